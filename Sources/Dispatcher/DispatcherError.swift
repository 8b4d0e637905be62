/// The one error type of the Dispatcher: a machine-readable ``Code`` and a message that says what
/// was wrong and what to do about it.
///
/// The HTTP API maps these to `{"error": {"code": "...", "message": "..."}}` (400, or 404/409 for
/// a missing or duplicate subscription).
public struct DispatcherError: Error, Hashable, CustomStringConvertible, Sendable {
    /// A small, extensible set of error kinds.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A signing secret that is not `whsec_` + base64 of 24 to 64 bytes.
        public static let invalidSigningSecret = Code("invalid_signing_secret")
        /// A retry schedule that is empty, too long, or has a delay that does not parse or is out of range.
        public static let invalidRetrySchedule = Code("invalid_retry_schedule")
        /// A callback URL that is malformed or uses something the guard does not accept (scheme,
        /// credentials, a fragment, a non-canonical numeric host, a port out of range).
        public static let invalidCallbackURL = Code("invalid_callback_url")
        /// A callback URL whose host is, or resolves to, an address in a refused range.
        public static let callbackAddressRefused = Code("callback_address_refused")
        /// A host name that does not resolve (the guard accepts such names at subscribe time; the
        /// delivery engine retries them later).
        public static let hostNotResolved = Code("host_not_resolved")
        /// A CIDR block (such as a `--callback-allow` value) that does not parse.
        public static let invalidCIDR = Code("invalid_cidr")
        /// A subscription field that is missing, malformed or out of range.
        public static let invalidSubscription = Code("invalid_subscription")
        /// No subscription has the id.
        public static let subscriptionNotFound = Code("subscription_not_found")
        /// A subscription with the id exists already.
        public static let subscriptionConflict = Code("subscription_conflict")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
