import NIOCore

/// A Kafka `uuid`: 16 bytes, big-endian. The all-zero value means "no id".
///
/// Its text form is Kafka's: the 16 bytes in URL-safe base64 without padding (22 characters),
/// as `kafka-topics.sh --describe` prints topic ids.
public struct Uuid: Sendable, Hashable, CustomStringConvertible {
    /// The first 8 bytes, big-endian (Java's `mostSignificantBits`).
    public var high: UInt64
    /// The last 8 bytes, big-endian (Java's `leastSignificantBits`).
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero id that means "no id".
    public static let zero = Uuid(high: 0, low: 0)

    /// A random id that is neither zero nor one of Kafka's reserved ids (1, the metadata topic),
    /// and whose text form does not start with "-" (Kafka avoids those, since command-line tools
    /// would take them for options).
    public static func random() -> Uuid {
        var generator = SystemRandomNumberGenerator()
        while true {
            var id = Uuid(high: generator.next(), low: generator.next())
            // A version-4 UUID, as Java's Uuid.randomUuid() makes.
            id.high = (id.high & ~0xF000) | 0x4000
            id.low = (id.low & ~(0xC000 << 48)) | (0x8000 << 48)
            if id != .zero && id != Uuid(high: 0, low: 1) && !id.description.hasPrefix("-") {
                return id
            }
        }
    }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// URL-safe base64 of the 16 bytes, without padding.
    public var description: String {
        let bytes = self.bytes + [0, 0]  // 18 bytes: 6 groups of 3, the last 2 characters dropped
        var text = ""
        text.reserveCapacity(24)
        for group in stride(from: 0, to: 18, by: 3) {
            let bits = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            for shift in [18, 12, 6, 0] {
                text.unicodeScalars.append(Self.alphabet[Int(bits >> UInt32(shift)) & 63])
            }
        }
        return String(text.unicodeScalars.prefix(22))
    }

    /// Parses Kafka's text form: 22 characters of URL-safe base64 (without padding).
    /// - Returns: nil when `text` is not such a string.
    public init?(_ text: String) {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 22 else { return nil }
        var values: [UInt32] = []
        values.reserveCapacity(24)
        for scalar in scalars {
            guard let value = Self.alphabet.firstIndex(of: scalar) else { return nil }
            values.append(UInt32(value))
        }
        // 22 characters carry 132 bits: the last character's low 4 bits must be zero.
        guard values[21] & 0xF == 0 else { return nil }
        values += [0, 0]
        var bytes: [UInt8] = []
        for group in stride(from: 0, to: 24, by: 4) {
            let bits = values[group] << 18 | values[group + 1] << 12 | values[group + 2] << 6 | values[group + 3]
            bytes += [
                UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 8),
                UInt8(truncatingIfNeeded: bits),
            ]
        }
        self.init(
            high: bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) },
            low: bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        )
    }

    private static let alphabet: [Unicode.Scalar] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".unicodeScalars
    )
}

extension ByteBuffer {
    /// Reads a `uuid`: 16 bytes.
    @inlinable
    public mutating func readKafkaUuid() throws(ProtocolError) -> Uuid {
        guard self.readableBytes >= 16 else {
            throw .truncated("uuid", needed: 16, remaining: self.readableBytes)
        }
        let high = try self.readKafkaInteger(as: UInt64.self)
        let low = try self.readKafkaInteger(as: UInt64.self)
        return Uuid(high: high, low: low)
    }

    /// Writes a `uuid`: 16 bytes.
    @inlinable
    public mutating func writeKafkaUuid(_ value: Uuid) {
        self.writeInteger(value.high)
        self.writeInteger(value.low)
    }
}
