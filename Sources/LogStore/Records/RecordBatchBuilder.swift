import NIOCore

/// Builds one RecordBatch v2 from records, optionally LZ4-compressed. Used by clients, tools,
/// tests and internal topics; the append path never re-encodes producer batches.
public struct RecordBatchBuilder: Sendable {
    public var compression: Compression
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    private var records: ByteBuffer
    private var count: Int32 = 0
    private var baseTimestamp: Int64?
    private var maxTimestamp: Int64 = -1

    /// - Parameter compression: `.none` or `.lz4`.
    public init(
        compression: Compression = .none, producerId: Int64 = -1, producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1
    ) {
        precondition(compression == .none || compression == .lz4, "only none and lz4 can be built")
        self.compression = compression
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.records = ByteBuffer()
    }

    public var isEmpty: Bool { count == 0 }
    public var recordCount: Int { Int(count) }
    /// Uncompressed size of the records added so far.
    public var recordsSize: Int { records.readableBytes }

    /// Adds a record; its offset is the next in the batch.
    public mutating func append(
        key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64
    ) {
        let base = baseTimestamp ?? timestamp
        baseTimestamp = base
        maxTimestamp = max(maxTimestamp, timestamp)
        let timestampDelta = timestamp - base
        var bodySize = 1 + Varint.size(of: timestampDelta) + Varint.size(of: Int64(count))
        bodySize += Self.bytesSize(key) + Self.bytesSize(value)
        bodySize += Varint.size(of: Int64(headers.count))
        for header in headers {
            bodySize += Self.bytesSize(Array(header.key.utf8)) + Self.bytesSize(header.value)
        }
        Varint.write(Int64(bodySize), to: &records)
        records.writeInteger(UInt8(0))
        Varint.write(timestampDelta, to: &records)
        Varint.write(Int64(count), to: &records)
        Self.writeBytes(key, to: &records)
        Self.writeBytes(value, to: &records)
        Varint.write(Int64(headers.count), to: &records)
        for header in headers {
            Self.writeBytes(Array(header.key.utf8), to: &records)
            Self.writeBytes(header.value, to: &records)
        }
        count += 1
    }

    /// Adds a decoded record, keeping its timestamp (its offset is the next in the batch).
    public mutating func append(_ record: Record) {
        append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
    }

    /// The finished batch.
    /// - Parameter baseOffset: usually 0; the log assigns real offsets on append.
    public func build(baseOffset: Int64 = 0) throws(LogStoreError) -> ByteBuffer {
        precondition(count > 0, "a batch needs at least one record")
        var payload = records
        if compression == .lz4 {
            let compressed = try payload.withUnsafeReadableBytes { (raw) throws(LogStoreError) in
                try LZ4Codec.compress(raw)
            }
            payload = ByteBuffer(bytes: compressed)
        }
        var out = ByteBuffer()
        out.reserveCapacity(RecordBatchHeader.size + payload.readableBytes)
        out.writeInteger(baseOffset)
        out.writeInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + payload.readableBytes))
        out.writeInteger(Int32(-1))  // partition leader epoch
        out.writeInteger(Int8(2))  // magic
        out.writeInteger(UInt32(0))  // CRC, filled below
        out.writeInteger(Int16(compression.rawValue))
        out.writeInteger(count - 1)
        out.writeInteger(baseTimestamp ?? 0)
        out.writeInteger(maxTimestamp)
        out.writeInteger(producerId)
        out.writeInteger(producerEpoch)
        out.writeInteger(baseSequence)
        out.writeInteger(count)
        out.writeImmutableBuffer(payload)
        let crc = out.withUnsafeReadableBytes { RecordBatchHeader.computeCRC(of: $0) }
        out.setInteger(crc, at: RecordBatchHeader.Field.crc)
        return out
    }

    private static func bytesSize(_ bytes: [UInt8]?) -> Int {
        guard let bytes else { return 1 }
        return Varint.size(of: Int64(bytes.count)) + bytes.count
    }

    private static func writeBytes(_ bytes: [UInt8]?, to buffer: inout ByteBuffer) {
        guard let bytes else {
            Varint.write(-1, to: &buffer)
            return
        }
        Varint.write(Int64(bytes.count), to: &buffer)
        buffer.writeBytes(bytes)
    }
}
