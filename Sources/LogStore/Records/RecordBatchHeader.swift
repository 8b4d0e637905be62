/// The fixed 61-byte header of a Kafka RecordBatch v2 (magic 2), big-endian on disk and wire.
public struct RecordBatchHeader: Sendable, Hashable {
    /// Size of the fixed header; records follow it.
    public static let size = 61
    /// Bytes before `batchLength` counts: baseOffset (8) and batchLength (4).
    public static let logOverhead = 12
    /// Smallest legal `batchLength`: the header after the log overhead, with no records.
    public static let minimumBatchLength = Int32(size - logOverhead)

    /// Byte offsets of the header fields.
    public enum Field {
        public static let baseOffset = 0
        public static let batchLength = 8
        public static let partitionLeaderEpoch = 12
        public static let magic = 16
        public static let crc = 17
        public static let attributes = 21
        public static let lastOffsetDelta = 23
        public static let baseTimestamp = 27
        public static let maxTimestamp = 35
        public static let producerId = 43
        public static let producerEpoch = 51
        public static let baseSequence = 53
        public static let recordCount = 57
    }

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// Size of the whole batch, header included.
    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    /// Offset of the batch's last record.
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// Codec bits of `attributes`.
    public var compressionCode: Int { Int(attributes & 0x07) }
    /// Timestamp type bit: 0 = CreateTime, 1 = LogAppendTime.
    public var isLogAppendTime: Bool { attributes & 0x08 != 0 }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }

    /// Parses the header at the start of `bytes`; nil when fewer than ``size`` bytes are given.
    /// Does not check the magic byte or CRC.
    @inlinable
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        baseOffset = bytes.int64(at: Field.baseOffset)
        batchLength = bytes.int32(at: Field.batchLength)
        partitionLeaderEpoch = bytes.int32(at: Field.partitionLeaderEpoch)
        magic = Int8(bitPattern: bytes[Field.magic])
        crc = UInt32(bitPattern: bytes.int32(at: Field.crc))
        attributes = bytes.int16(at: Field.attributes)
        lastOffsetDelta = bytes.int32(at: Field.lastOffsetDelta)
        baseTimestamp = bytes.int64(at: Field.baseTimestamp)
        maxTimestamp = bytes.int64(at: Field.maxTimestamp)
        producerId = bytes.int64(at: Field.producerId)
        producerEpoch = bytes.int16(at: Field.producerEpoch)
        baseSequence = bytes.int32(at: Field.baseSequence)
        recordCount = bytes.int32(at: Field.recordCount)
    }

    /// The CRC32C the batch in `bytes` should carry: over everything from `attributes` to the
    /// end of the batch (`bytes` must hold exactly one batch).
    @inlinable
    public static func computeCRC(of batch: UnsafeRawBufferPointer) -> UInt32 {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: batch[Field.attributes...]))
    }
}

extension UnsafeRawBufferPointer {
    @inlinable
    func int64(at offset: Int) -> Int64 {
        Int64(bigEndian: loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }
    @inlinable
    func int32(at offset: Int) -> Int32 {
        Int32(bigEndian: loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }
    @inlinable
    func int16(at offset: Int) -> Int16 {
        Int16(bigEndian: loadUnaligned(fromByteOffset: offset, as: Int16.self))
    }
}
