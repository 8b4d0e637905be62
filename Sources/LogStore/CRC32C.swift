import CCRC32C

/// CRC32C (Castagnoli), the checksum of RecordBatch v2.
public enum CRC32C {
    /// The CRC32C of `bytes`, continuing from `crc` (0 to start).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return hooklog_crc32c_extend(crc, base, bytes.count)
    }

    /// The CRC32C of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Whether the SSE4.2 instruction is in use on this CPU.
    public static var isHardwareAccelerated: Bool { hooklog_crc32c_is_hardware_accelerated() != 0 }
}
