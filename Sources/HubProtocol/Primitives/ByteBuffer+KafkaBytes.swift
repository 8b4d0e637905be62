import NIOCore

/// Bytes and records: an `int32` length (-1 = null), or in flexible versions a compact length.
///
/// Reading returns a slice of the input, without copying: a `records` field of a Produce request
/// is the client's RecordBatch bytes as they arrived.
extension ByteBuffer {
    /// Reads non-nullable bytes as a slice of this buffer.
    @inlinable
    public mutating func readKafkaBytes(compact: Bool) throws(ProtocolError) -> ByteBuffer {
        guard let bytes = try self.readKafkaNullableBytes(compact: compact, nullable: false) else {
            throw .unexpectedNull("bytes")
        }
        return bytes
    }

    /// Reads bytes (or `records`) that may be null, as a slice of this buffer.
    /// - Parameter nullable: whether null is allowed at this version; when false, null throws.
    @inlinable
    public mutating func readKafkaNullableBytes(compact: Bool, nullable: Bool = true) throws(ProtocolError)
        -> ByteBuffer?
    {
        guard let length = try self.readKafkaLength(compact: compact, int16: false, what: "bytes") else {
            if nullable { return nil }
            throw .unexpectedNull("bytes")
        }
        // readKafkaLength checked the length against the readable bytes.
        return self.readSlice(length: length)!
    }

    /// Writes bytes: the readable bytes of `value`.
    @inlinable
    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool) {
        self.writeKafkaLength(value.readableBytes, compact: compact, int16: false)
        self.writeImmutableBuffer(value)
    }

    /// Writes bytes (or `records`) that may be null.
    /// - Parameter nullable: whether null can be written at this version; when false, nil is
    ///   written as empty bytes.
    @inlinable
    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool, nullable: Bool = true) {
        if let value {
            self.writeKafkaBytes(value, compact: compact)
        } else {
            self.writeKafkaLength(nullable ? nil : 0, compact: compact, int16: false)
        }
    }
}
