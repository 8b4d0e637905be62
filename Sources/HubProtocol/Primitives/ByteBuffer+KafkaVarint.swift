import NIOCore

/// Variable-length integers: unsigned varints (compact lengths, tagged fields) and zig-zag signed
/// varints and varlongs (record fields), seven bits a byte, least significant group first.
extension ByteBuffer {
    /// Reads an unsigned varint of at most 32 bits (at most 5 bytes).
    /// - Throws: `truncated` when the input ends inside the varint, `malformedVarint` when it is
    ///   longer than 5 bytes or does not fit in 32 bits.
    @inlinable
    public mutating func readKafkaUnsignedVarint() throws(ProtocolError) -> UInt32 {
        let value = try self.readKafkaUnsignedVarint64(maxBytes: 5)
        guard let narrow = UInt32(exactly: value) else {
            throw ProtocolError(code: .malformedVarint, message: "unsigned varint \(value) does not fit in 32 bits")
        }
        return narrow
    }

    /// Writes an unsigned varint (1 to 5 bytes).
    @inlinable
    public mutating func writeKafkaUnsignedVarint(_ value: UInt32) {
        self.writeKafkaUnsignedVarint64(UInt64(value))
    }

    /// Reads a zig-zag encoded signed varint of at most 32 bits (at most 5 bytes).
    @inlinable
    public mutating func readKafkaVarint() throws(ProtocolError) -> Int32 {
        let raw = try self.readKafkaUnsignedVarint()
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Writes a zig-zag encoded signed varint (1 to 5 bytes).
    @inlinable
    public mutating func writeKafkaVarint(_ value: Int32) {
        self.writeKafkaUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    /// Reads a zig-zag encoded signed varlong (at most 10 bytes).
    @inlinable
    public mutating func readKafkaVarlong() throws(ProtocolError) -> Int64 {
        let raw = try self.readKafkaUnsignedVarint64(maxBytes: 10)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Writes a zig-zag encoded signed varlong (1 to 10 bytes).
    @inlinable
    public mutating func writeKafkaVarlong(_ value: Int64) {
        self.writeKafkaUnsignedVarint64(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// The number of bytes `writeKafkaUnsignedVarint(value)` writes.
    @inlinable
    public static func kafkaUnsignedVarintSize(_ value: UInt32) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    @inlinable
    mutating func readKafkaUnsignedVarint64(maxBytes: Int) throws(ProtocolError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = self.readerIndex
        let end = self.writerIndex
        for _ in 0..<maxBytes {
            guard index < end, let byte = self.getInteger(at: index, as: UInt8.self) else {
                throw .truncated("varint", needed: index - self.readerIndex + 1, remaining: self.readableBytes)
            }
            index += 1
            let bits = UInt64(byte & 0x7F)
            // The last of 10 bytes may only carry the 64th bit.
            if shift == 63 && bits > 1 {
                throw ProtocolError(code: .malformedVarint, message: "varint does not fit in 64 bits")
            }
            result |= bits << shift
            if byte & 0x80 == 0 {
                self.moveReaderIndex(to: index)
                return result
            }
            shift += 7
        }
        throw ProtocolError(code: .malformedVarint, message: "varint is longer than \(maxBytes) bytes")
    }

    @inlinable
    mutating func writeKafkaUnsignedVarint64(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.writeInteger(UInt8(truncatingIfNeeded: v))
    }
}
