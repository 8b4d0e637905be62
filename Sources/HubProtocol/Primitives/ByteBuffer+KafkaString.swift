import NIOCore

/// Strings: UTF-8 with an `int16` length (-1 = null), or in flexible versions a compact length
/// (unsigned varint of length + 1, 0 = null).
extension ByteBuffer {
    /// The longest string Kafka serializes: its readers reject longer ones.
    public static let kafkaMaxStringBytes = Int(Int16.max)

    /// Reads a non-nullable string.
    /// - Throws: `ProtocolError` when truncated, when the length is negative, null or larger than
    ///   the input, or when the bytes are not valid UTF-8.
    @inlinable
    public mutating func readKafkaString(compact: Bool) throws(ProtocolError) -> String {
        guard let length = try self.readKafkaLength(compact: compact, int16: true, what: "string") else {
            throw .unexpectedNull("string")
        }
        return try self.readKafkaUTF8(length: length)
    }

    /// Reads a string that may be null.
    /// - Parameter nullable: whether null is allowed at this version; when false, null throws.
    @inlinable
    public mutating func readKafkaNullableString(compact: Bool, nullable: Bool = true) throws(ProtocolError) -> String?
    {
        guard let length = try self.readKafkaLength(compact: compact, int16: true, what: "string") else {
            if nullable { return nil }
            throw .unexpectedNull("string")
        }
        return try self.readKafkaUTF8(length: length)
    }

    /// Writes a string. A string longer than `kafkaMaxStringBytes` UTF-8 bytes is cut at the
    /// last character boundary that fits, since Kafka's readers reject longer ones.
    @inlinable
    public mutating func writeKafkaString(_ value: String, compact: Bool) {
        var value = value
        value.withUTF8 { utf8 in
            var count = utf8.count
            if count > Self.kafkaMaxStringBytes {
                count = Self.kafkaMaxStringBytes
                // Back up to the start of a scalar: continuation bytes are 0b10xxxxxx.
                while count > 0 && utf8[count] & 0xC0 == 0x80 { count -= 1 }
            }
            self.writeKafkaLength(count, compact: compact, int16: true)
            self.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[0..<count]))
        }
    }

    /// Writes a string that may be null.
    /// - Parameter nullable: whether null can be written at this version; when false, nil is
    ///   written as the empty string.
    @inlinable
    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool, nullable: Bool = true) {
        if let value {
            self.writeKafkaString(value, compact: compact)
        } else if nullable {
            self.writeKafkaLength(nil, compact: compact, int16: true)
        } else {
            self.writeKafkaString("", compact: compact)
        }
    }

    @inlinable
    mutating func readKafkaUTF8(length: Int) throws(ProtocolError) -> String {
        let string = self.withUnsafeReadableBytes { raw in
            UnsafeRawBufferPointer(rebasing: raw[0..<length]).withMemoryRebound(to: UInt8.self) { bytes in
                String(validating: bytes, as: UTF8.self)
            }
        }
        guard let string else {
            throw ProtocolError(code: .invalidUTF8, message: "a string of \(length) bytes is not valid UTF-8")
        }
        self.moveReaderIndex(forwardBy: length)
        return string
    }
}
