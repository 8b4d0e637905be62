/// Kafka's default partitioning of keyed records, as the Java client does it:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
public enum DefaultPartitioner {
    /// The partition of a record with `key` in a topic of `partitions` partitions.
    @inlinable
    public static func partition(forKey key: [UInt8], partitions: Int) -> Int {
        precondition(partitions > 0, "a topic has at least one partition")
        return Int(murmur2(key) & 0x7fff_ffff) % partitions
    }

    /// Kafka's 32-bit murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`: seed
    /// 0x9747b28c, little-endian 4-byte blocks).
    @inlinable
    public static func murmur2(_ data: [UInt8]) -> Int32 {
        data.withUnsafeBytes { murmur2($0) }
    }

    /// Kafka's 32-bit murmur2 hash of raw bytes.
    @inlinable
    public static func murmur2(_ data: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for block in 0..<blocks {
            var k = data.loadUnaligned(fromByteOffset: block * 4, as: UInt32.self).littleEndian
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = blocks * 4
        switch length & 3 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }
}
