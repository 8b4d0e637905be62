import NIOCore

/// The SSRF guard: keeps webhook callbacks away from loopback, private, link-local and other
/// internal addresses.
///
/// It judges twice. At subscribe time ``check(url:)`` validates the URL (see ``CallbackURL`` for
/// the syntax rules), checks a literal host directly and looks up a host name; a name that does not
/// resolve yet is accepted. At every connection the delivery engine resolves the name itself, asks
/// ``refusalReason(for:)-(IPAddress)`` about each address, and connects only to an address it
/// accepted, so a name that later points somewhere internal is never called.
///
/// Refused: 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16 (including the cloud metadata
/// address 169.254.169.254), 172.16/12, 192.0.0/24, 192.168/16, 198.18/15, 224/4 (multicast),
/// 240/4 (reserved, including 255.255.255.255); ::, ::1, ::/96 (IPv4-compatible), fc00::/7,
/// fec0::/10, fe80::/10, ff00::/8, 64:ff9b:1::/48; IPv4-mapped (::ffff:0:0/96), NAT64
/// (64:ff9b::/96) and 6to4 (2002::/16) forms are judged by the IPv4 address they carry.
/// An address inside one of the `allowed` blocks is accepted whatever its range (for a NAT64 or
/// 6to4 address, allowing its IPv4 address is enough); allowing `0.0.0.0/0` and `::/0` turns the
/// guard off.
public struct CallbackGuard: Sendable {
    /// Blocks accepted despite the refused ranges (`hooklog serve --callback-allow CIDR`).
    public let allowed: [CIDRBlock]
    /// How long ``check(url:)`` waits for a lookup before accepting the name as unresolved.
    public let resolutionTimeout: Duration
    private let resolver: any HostResolver

    /// - Parameters:
    ///   - allowed: blocks to accept even though they lie in a refused range.
    ///   - resolver: how host names are looked up; the system resolver by default.
    ///   - resolutionTimeout: the longest ``check(url:)`` waits for a lookup.
    public init(
        allowed: [CIDRBlock] = [],
        resolver: any HostResolver = SystemHostResolver(),
        resolutionTimeout: Duration = .seconds(5)
    ) {
        self.allowed = allowed
        self.resolver = resolver
        self.resolutionTimeout = resolutionTimeout
    }

    /// Validates a callback URL at subscribe time.
    ///
    /// A literal host is checked without DNS. A name is looked up (off Swift's cooperative pool);
    /// when any address it resolves to is refused, the URL is refused. A name that does not
    /// resolve, or not within ``resolutionTimeout``, is accepted.
    /// - Parameter url: the callback URL as the subscriber wrote it.
    /// - Returns: the parsed URL and what the lookup found.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidCallbackURL`` or
    ///   ``DispatcherError/Code/callbackAddressRefused``.
    public func check(url: String) async throws -> CheckedCallback {
        let callback = try CallbackURL(url)
        if let address = callback.literalAddress {
            if let reason = refusalReason(for: address) {
                throw DispatcherError(.callbackAddressRefused, "callback URL \(callback) refused: \(reason)")
            }
            return CheckedCallback(url: callback, resolution: .literal(address))
        }
        let addresses: [IPAddress]
        do {
            let resolver = self.resolver
            let host = callback.host
            guard let found = try await withDeadline(resolutionTimeout, { try await resolver.addresses(of: host) })
            else {
                return CheckedCallback(
                    url: callback,
                    resolution: .unresolved(reason: "no answer from the resolver within \(resolutionTimeout)")
                )
            }
            addresses = found
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as DispatcherError {
            return CheckedCallback(url: callback, resolution: .unresolved(reason: error.message))
        } catch {
            return CheckedCallback(url: callback, resolution: .unresolved(reason: "\(error)"))
        }
        guard !addresses.isEmpty else {
            return CheckedCallback(
                url: callback, resolution: .unresolved(reason: "\"\(callback.host)\" has no addresses"))
        }
        for address in addresses {
            if let reason = refusalReason(for: address) {
                throw DispatcherError(
                    .callbackAddressRefused,
                    "callback URL \(callback) refused: \(callback.host) resolves to \(reason)"
                )
            }
        }
        return CheckedCallback(url: callback, resolution: .resolved(addresses))
    }

    /// Why a connection to `address` is refused, or `nil` when it is acceptable.
    ///
    /// Synchronous and cheap: the delivery engine calls it for every address it is about to
    /// connect to.
    /// - Returns: a sentence naming the address, its range and how to allow it.
    public func refusalReason(for address: IPAddress) -> String? {
        let address = address.unmapped
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if let embedded = SpecialAddressRanges.embeddedIPv4(in: address),
            allowed.contains(where: { $0.contains(embedded) })
        {
            return nil
        }
        guard let refusal = SpecialAddressRanges.refusal(for: address) else { return nil }
        let subject: String
        if let embedded = refusal.embedded {
            subject = "\(address), which carries \(embedded), \(refusal.category) (\(refusal.range))"
        } else {
            subject = "\(address), \(refusal.category) (\(refusal.range))"
        }
        return
            "\(subject); callbacks to it are refused unless the server allows it with --callback-allow \(refusal.range)"
    }

    /// Why a connection to `address` is refused, or `nil` when it is acceptable; non-IP addresses
    /// (Unix domain sockets) are always refused.
    public func refusalReason(for address: SocketAddress) -> String? {
        guard let ip = IPAddress(address) else { return "\(address) is not an IP address" }
        return refusalReason(for: ip)
    }
}
