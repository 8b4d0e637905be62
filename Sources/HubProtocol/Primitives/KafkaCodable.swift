import NIOCore

/// A struct of the Kafka protocol that reads and writes itself at a given version: a message, a
/// header, or a struct nested in one of them.
public protocol KafkaCodable: Sendable, Hashable {
    /// Decodes the struct at `version`. Fields that do not exist at `version` keep their defaults.
    /// - Throws: `ProtocolError` when the input is malformed.
    init(from buffer: inout ByteBuffer, version: Int16) throws(ProtocolError)

    /// Encodes the struct at `version`. Fields that do not exist at `version` are not written.
    func encode(to buffer: inout ByteBuffer, version: Int16)
}

/// A top-level Kafka message definition: a request, a response, a header or a data struct (such
/// as the consumer protocol's subscription and assignment).
public protocol KafkaMessage: KafkaCodable {
    /// Every version Kafka defines for the message.
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version that uses compact strings, bytes and arrays and tagged fields; nil if none.
    static var firstFlexibleVersion: Int16? { get }
    /// A message with every field at its default.
    init()
}

extension KafkaMessage {
    /// Whether `version` uses compact forms and tagged fields.
    @inlinable
    public static func isFlexible(version: Int16) -> Bool {
        firstFlexibleVersion.map { version >= $0 } ?? false
    }
}

/// The body of a Kafka request.
public protocol KafkaRequest: KafkaMessage {
    associatedtype Response: KafkaResponse
    /// The API key in the request header.
    static var apiKey: Int16 { get }
}

/// The body of a Kafka response.
public protocol KafkaResponse: KafkaMessage {
    /// The API key of the request this answers.
    static var apiKey: Int16 { get }
}
