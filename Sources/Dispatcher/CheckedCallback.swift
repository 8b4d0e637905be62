/// A callback URL that the guard accepted at subscribe time, with what it learned about the host.
public struct CheckedCallback: Hashable, Sendable {
    /// What the guard found when it looked up the host.
    public enum Resolution: Hashable, Sendable {
        /// The host is a literal address; nothing was looked up.
        case literal(IPAddress)
        /// The host name resolved to these addresses, all acceptable.
        case resolved([IPAddress])
        /// The host name did not resolve (or not in time). It is accepted: every connection checks
        /// the addresses again.
        case unresolved(reason: String)
    }

    /// The parsed URL.
    public let url: CallbackURL
    /// What the lookup found.
    public let resolution: Resolution

    public init(url: CallbackURL, resolution: Resolution) {
        self.url = url
        self.resolution = resolution
    }
}
