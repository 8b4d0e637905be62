import HubProtocol
import NIOCore
import Testing

/// Distinct values, none equal to a default of the schemas (0, -1, 1, 60000, Int32.max,
/// Int32.min), for filling every field of a message in the generated round-trip tests.
struct SampleValues {
    /// Whether nullable fields get null (where the version allows it).
    var nulls: Bool
    /// Whether flexible structs get tagged fields no schema defines.
    var unknownTags = true
    private var counter = 0

    init(nulls: Bool) {
        self.nulls = nulls
    }

    private mutating func next() -> Int {
        counter += 1
        return counter
    }

    mutating func nextInt8() -> Int8 { Int8(2 + next() % 100) }
    mutating func nextInt16() -> Int16 { Int16(1000 + next()) }
    mutating func nextUInt16() -> UInt16 { UInt16(40000 + next()) }
    mutating func nextUInt32() -> UInt32 { UInt32(3_000_000_000 + next()) }
    mutating func nextInt32() -> Int32 { Int32(100_000 + next()) * (counter % 2 == 0 ? 1 : -1) }
    mutating func nextInt64() -> Int64 { (1 << 40 + Int64(next())) * (counter % 2 == 0 ? 1 : -1) }
    mutating func nextDouble() -> Double { Double(next()) + 0.25 }
    mutating func nextUuid() -> Uuid {
        let n = UInt64(next())
        return Uuid(high: 0x0123_4567_89AB_0000 | n, low: ~n)
    }
    /// Alternates ASCII and multi-byte UTF-8, so that lengths count bytes, not characters.
    mutating func nextString() -> String {
        let n = next()
        return n % 2 == 0 ? "s\(n)" : "ü€\(n)"
    }
    mutating func nextBytes() -> ByteBuffer {
        let n = UInt8(truncatingIfNeeded: next())
        return ByteBuffer(bytes: [n, 0, 0xFF, n &+ 1])
    }
    /// Tags no schema uses, so that they come back as unknown.
    mutating func unknownTaggedFields() -> [TaggedField] {
        guard unknownTags else { return [] }
        let n = next()
        return [
            TaggedField(tag: 100 + UInt32(n % 50), data: ByteBuffer(bytes: [UInt8(truncatingIfNeeded: n)])),
            TaggedField(tag: 10_000, data: ByteBuffer()),
        ]
    }
}

/// Encodes `message` at `version`, decodes it, and checks that the result is equal, that decoding
/// consumed every byte, and that re-encoding gives the same bytes.
func expectRoundTrip<Message: KafkaMessage>(
    _ message: Message,
    version: Int16,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var buffer = ByteBuffer()
    message.encode(to: &buffer, version: version)
    let encoded = buffer
    let decoded = try Message(from: &buffer, version: version)
    #expect(decoded == message, "\(Message.self) v\(version)", sourceLocation: sourceLocation)
    #expect(buffer.readableBytes == 0, "\(Message.self) v\(version) left bytes", sourceLocation: sourceLocation)
    var reencoded = ByteBuffer()
    decoded.encode(to: &reencoded, version: version)
    #expect(reencoded == encoded, "\(Message.self) v\(version) re-encodes differently", sourceLocation: sourceLocation)
}
