import NIOCore

extension ByteBuffer {
    /// Reads the length prefix of a string (`int16`), bytes or array (`int32`), or their compact
    /// form (unsigned varint holding length + 1), and checks it against the remaining input.
    ///
    /// - Parameters:
    ///   - compact: whether the prefix is an unsigned varint (flexible versions).
    ///   - int16: whether the non-compact prefix is an `int16` (strings) rather than an `int32`.
    ///   - what: names the value in error messages.
    /// - Returns: the length, or nil for null (-1, or 0 in the compact form).
    /// - Throws: `ProtocolError` when the prefix is truncated, negative, or larger than the bytes
    ///   that remain — so no caller ever allocates according to an unchecked length.
    @inlinable
    mutating func readKafkaLength(compact: Bool, int16: Bool, what: StaticString) throws(ProtocolError) -> Int? {
        let length: Int
        if compact {
            let raw = try self.readKafkaUnsignedVarint()
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else {
            length =
                int16 ? Int(try self.readKafkaInteger(as: Int16.self)) : Int(try self.readKafkaInteger(as: Int32.self))
            if length == -1 { return nil }
            if length < 0 { throw .negativeLength("\(what)", length) }
        }
        // Every string byte and every array element takes at least one byte of input.
        guard length <= self.readableBytes else {
            throw .lengthExceedsInput("\(what) length", length, remaining: self.readableBytes)
        }
        return length
    }

    /// Writes the length prefix of a string, bytes or array; nil writes null.
    @inlinable
    mutating func writeKafkaLength(_ length: Int?, compact: Bool, int16: Bool) {
        if compact {
            self.writeKafkaUnsignedVarint(length.map { UInt32(truncatingIfNeeded: $0 + 1) } ?? 0)
        } else if int16 {
            self.writeInteger(length.map { Int16(truncatingIfNeeded: $0) } ?? -1)
        } else {
            self.writeInteger(length.map { Int32(truncatingIfNeeded: $0) } ?? -1)
        }
    }
}
