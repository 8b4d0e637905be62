import NIOCore

/// Zig-zag variable-length integers as used inside RecordBatch v2 records (protobuf `sint32` /
/// `sint64`). The protocol's compact lengths are *unsigned* varints and live in HubProtocol.
public enum Varint {
    /// Encoded size of a zig-zag varint for `value`.
    @inlinable
    public static func size(of value: Int64) -> Int {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    /// Appends the zig-zag encoding of `value` to `buffer`.
    @inlinable
    public static func write(_ value: Int64, to buffer: inout ByteBuffer) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    /// Reads a zig-zag varint of at most `maxBytes` bytes (5 for 32-bit fields, 10 for 64-bit)
    /// at `index`, advancing it. Returns nil when the bytes run out or the varint is too long.
    @inlinable
    public static func read(
        _ bytes: UnsafeRawBufferPointer,
        at index: inout Int,
        maxBytes: Int = 10
    ) -> Int64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = index
        let end = bytes.count
        while i < end && i - index < maxBytes {
            let byte = bytes[i]
            i += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                index = i
                return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
            }
            shift += 7
        }
        return nil
    }

    /// Reads a zig-zag varint that must fit in 32 bits.
    @inlinable
    public static func read32(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> Int32? {
        guard let value = read(bytes, at: &index, maxBytes: 5),
            let narrow = Int32(exactly: value)
        else { return nil }
        return narrow
    }
}
