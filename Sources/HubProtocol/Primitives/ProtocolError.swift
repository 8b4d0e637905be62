/// A request or response that does not follow the Kafka wire protocol.
///
/// Decoding never traps and never allocates according to a length it has not checked against the
/// bytes that are really there: every malformed input ends in one of these errors. The usual
/// reaction of a server is to close the connection, since the byte stream can no longer be trusted.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of violation this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline
        let name: String

        @usableFromInline
        init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The input ended before the value being read was complete.
        public static let truncated = Code("truncated")
        /// A length or count was negative (other than the -1 that means null, where null is allowed).
        public static let negativeLength = Code("negativeLength")
        /// A length or count is larger than the bytes that remain in the input.
        public static let lengthExceedsInput = Code("lengthExceedsInput")
        /// A null string, bytes or array where the field is not nullable at this version.
        public static let unexpectedNull = Code("unexpectedNull")
        /// A string is not valid UTF-8.
        public static let invalidUTF8 = Code("invalidUTF8")
        /// A variable-length integer is longer than its type allows.
        public static let malformedVarint = Code("malformedVarint")
    }

    /// What kind of violation this is.
    public var code: Code
    /// What went wrong, for logs.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ProtocolError.\(code): \(message)" }

    @usableFromInline
    static func truncated(_ what: String, needed: Int, remaining: Int) -> ProtocolError {
        ProtocolError(
            code: .truncated,
            message: "\(what) needs \(needed) bytes but only \(remaining) remain: the message is cut short "
                + "or was encoded at another version"
        )
    }

    @usableFromInline
    static func negativeLength(_ what: String, _ length: Int) -> ProtocolError {
        ProtocolError(code: .negativeLength, message: "\(what) has the invalid length \(length)")
    }

    @usableFromInline
    static func lengthExceedsInput(_ what: String, _ length: Int, remaining: Int) -> ProtocolError {
        ProtocolError(
            code: .lengthExceedsInput,
            message: "\(what) claims \(length) but only \(remaining) bytes remain: the length is corrupt"
        )
    }

    @usableFromInline
    static func unexpectedNull(_ what: String) -> ProtocolError {
        ProtocolError(code: .unexpectedNull, message: "\(what) is null but is not nullable at this version")
    }
}
