import HubProtocol
import NIOCore
import Testing

/// The bytes of `text` as UTF-8.
func utf8(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// Concatenates fixture parts, so that a fixture can be written one field a line.
func fixture(_ parts: [UInt8]...) -> [UInt8] {
    parts.flatMap { $0 }
}

/// Checks both directions against a hand-written fixture: `value` encodes to exactly `bytes`, and
/// `bytes` decode to `value`, consuming them all.
func expectCodec<Value: KafkaCodable>(
    _ value: Value,
    version: Int16,
    bytes: [UInt8],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var encoded = ByteBuffer()
    value.encode(to: &encoded, version: version)
    #expect(Array(encoded.readableBytesView) == bytes, "encoding", sourceLocation: sourceLocation)
    var input = ByteBuffer(bytes: bytes)
    let decoded = try Value(from: &input, version: version)
    #expect(decoded == value, "decoding", sourceLocation: sourceLocation)
    #expect(input.readableBytes == 0, "decoding left bytes", sourceLocation: sourceLocation)
}

/// Checks that every strict prefix of `bytes` fails to decode with a `ProtocolError`.
func expectEveryPrefixThrows<Value: KafkaCodable>(
    _ type: Value.Type,
    version: Int16,
    bytes: [UInt8],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for length in 0..<bytes.count {
        var input = ByteBuffer(bytes: bytes[0..<length])
        #expect(throws: ProtocolError.self, "prefix of \(length) bytes", sourceLocation: sourceLocation) {
            _ = try Value(from: &input, version: version)
        }
    }
}

/// Decodes mutated and truncated copies of `message`'s encoding: decoding may fail, but must
/// never trap (a trap ends the test run).
func expectMutationsAreSafe<Message: KafkaMessage>(_ message: Message, version: Int16, seed: UInt64) {
    var encoded = ByteBuffer()
    message.encode(to: &encoded, version: version)
    let original = Array(encoded.readableBytesView)
    guard !original.isEmpty else { return }
    var random = SplitMix64(seed: seed)
    for round in 0..<40 {
        var bytes = original
        if round % 4 == 3 {
            bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
        } else {
            for _ in 0...(round % 3) {
                let index = Int(random.next() % UInt64(bytes.count))
                // Favour the values that make lengths null, negative or huge.
                let choices: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, UInt8(truncatingIfNeeded: random.next())]
                bytes[index] = choices[Int(random.next() % UInt64(choices.count))]
            }
        }
        var input = ByteBuffer(bytes: bytes)
        _ = try? Message(from: &input, version: version)
    }
}

/// A small deterministic random number generator, so that failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
