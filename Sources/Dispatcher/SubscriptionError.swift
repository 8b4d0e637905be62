/// A refused subscription operation: a machine-readable ``Code`` and a message that says what to
/// fix.
public struct SubscriptionError: Error, Hashable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A field is missing, malformed or out of range.
        public static let invalid = Code("invalid_subscription")
        /// No subscription has the id.
        public static let notFound = Code("subscription_not_found")
        /// The id exists already.
        public static let conflict = Code("subscription_conflict")
        /// The callback URL points at an address the SSRF guard refuses.
        public static let forbiddenCallback = Code("callback_forbidden")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
