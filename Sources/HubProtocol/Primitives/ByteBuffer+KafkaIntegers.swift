import NIOCore

/// Fixed-size big-endian values: `int8` … `int64`, `uint16`, `uint32`, `float64` and `bool`.
///
/// Writing integers needs no helper: NIO's `writeInteger(_:)` is big-endian by default.
extension ByteBuffer {
    /// Reads a big-endian integer.
    /// - Throws: `ProtocolError.Code.truncated` when fewer than `MemoryLayout<T>.size` bytes remain.
    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(as type: T.Type = T.self) throws(ProtocolError) -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else {
            throw .truncated("\(T.self)", needed: MemoryLayout<T>.size, remaining: self.readableBytes)
        }
        return value
    }

    /// Reads a `bool`: one byte, any non-zero value is true (as Kafka's own reader does).
    @inlinable
    public mutating func readKafkaBool() throws(ProtocolError) -> Bool {
        try self.readKafkaInteger(as: UInt8.self) != 0
    }

    /// Writes a `bool` as the byte 0 or 1.
    @inlinable
    public mutating func writeKafkaBool(_ value: Bool) {
        self.writeInteger(value ? 1 : 0, as: UInt8.self)
    }

    /// Reads a `float64`: an IEEE 754 double, big-endian.
    @inlinable
    public mutating func readKafkaFloat64() throws(ProtocolError) -> Double {
        Double(bitPattern: try self.readKafkaInteger(as: UInt64.self))
    }

    /// Writes a `float64`: an IEEE 754 double, big-endian.
    @inlinable
    public mutating func writeKafkaFloat64(_ value: Double) {
        self.writeInteger(value.bitPattern)
    }
}
