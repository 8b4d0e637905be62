import HubProtocol

/// The one error type of HubClient: a machine-readable ``Code``, a message that says what
/// happened (and what to do about it), and the broker's Kafka error code when it sent one.
public struct HubClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A small, extensible set of error kinds.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The TCP connection could not be made (refused, unreachable, or the connect timeout passed).
        public static let connectFailed = Code("connect_failed")
        /// The connection closed (or failed) before the response arrived.
        public static let connectionClosed = Code("connection_closed")
        /// No response within the request timeout.
        public static let timedOut = Code("timed_out")
        /// The broker does not implement a version of the API that this client speaks.
        public static let unsupportedVersion = Code("unsupported_version")
        /// The broker's response could not be decoded.
        public static let malformedResponse = Code("malformed_response")
        /// The broker answered with a Kafka error code: see ``HubClientError/kafkaError``.
        public static let broker = Code("broker")
        /// The caller passed something the protocol cannot carry.
        public static let invalidArgument = Code("invalid_argument")
        /// Records in a response could not be decoded (bad CRC, unsupported compression).
        public static let invalidRecords = Code("invalid_records")
    }

    public let code: Code
    public let message: String
    /// The Kafka error code the broker answered with (for ``Code/broker``), else nil.
    public let kafkaError: ErrorCode?

    public init(_ code: Code, _ message: String, kafkaError: ErrorCode? = nil) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
    }

    /// An error for a Kafka error code in a response, with the broker's message when it sent one.
    public static func broker(_ error: ErrorCode, _ context: String, message: String? = nil) -> HubClientError {
        var text = "\(context): \(error)"
        if let message, !message.isEmpty { text += ": \(message)" }
        return HubClientError(.broker, text, kafkaError: error)
    }

    public var description: String { "\(code): \(message)" }
}
