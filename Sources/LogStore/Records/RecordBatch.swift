/// Operations on whole RecordBatch v2 byte sequences: walking, checking and decoding.
public enum RecordBatch {
    /// Upper bound on what one LZ4 batch may decompress to.
    public static let maxDecompressedSize = 128 * 1024 * 1024

    /// Checks the framing of the batch at the start of `bytes`: enough bytes for the header and
    /// the whole batch, magic 2, and a matching CRC. Returns the header.
    /// - Throws: `corruptMessage` saying what is wrong.
    @inlinable
    public static func checkFraming(_ bytes: UnsafeRawBufferPointer) throws(LogStoreError) -> RecordBatchHeader {
        guard let header = RecordBatchHeader(parsing: bytes) else {
            throw LogStoreError(.corruptMessage, "truncated batch header (\(bytes.count) bytes)")
        }
        guard header.batchLength >= RecordBatchHeader.minimumBatchLength else {
            throw LogStoreError(.corruptMessage, "batch length \(header.batchLength) is below the minimum")
        }
        guard header.totalSize <= bytes.count else {
            throw LogStoreError(
                .corruptMessage, "batch of \(header.totalSize) bytes is truncated at \(bytes.count) bytes")
        }
        guard header.magic == 2 else {
            throw LogStoreError(.corruptMessage, "unsupported magic byte \(header.magic) (only v2 batches)")
        }
        guard header.lastOffsetDelta >= 0, header.recordCount >= 0 else {
            throw LogStoreError(.corruptMessage, "negative record count or last offset delta")
        }
        let batch = UnsafeRawBufferPointer(rebasing: bytes[..<header.totalSize])
        let crc = RecordBatchHeader.computeCRC(of: batch)
        guard crc == header.crc else {
            throw LogStoreError(
                .corruptMessage,
                "CRC mismatch: batch says \(hex(header.crc)), contents give \(hex(crc))")
        }
        return header
    }

    /// Gives `body` the uncompressed records section of `batch`, decompressing LZ4 into
    /// `scratch` when needed.
    /// - Throws: `unsupportedCompression` for gzip, snappy and zstd; `corruptMessage` for bad LZ4.
    @inlinable
    public static func withRecordsSection<T>(
        of batch: UnsafeRawBufferPointer,
        header: RecordBatchHeader,
        scratch: inout [UInt8],
        limit: Int = maxDecompressedSize,
        _ body: (UnsafeRawBufferPointer) throws(LogStoreError) -> T
    ) throws(LogStoreError) -> T {
        let section = UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size..<header.totalSize])
        switch header.compressionCode {
        case Compression.none.rawValue:
            return try body(section)
        case Compression.lz4.rawValue:
            try LZ4Codec.decompress(section, into: &scratch, limit: limit)
            let result: Result<T, LogStoreError> = scratch.withUnsafeBytes { raw in
                do throws(LogStoreError) { return .success(try body(raw)) } catch { return .failure(error) }
            }
            return try result.get()
        case Compression.gzip.rawValue, Compression.snappy.rawValue, Compression.zstd.rawValue:
            let name = Compression(rawValue: header.compressionCode)!.description
            throw LogStoreError(
                .unsupportedCompression, "\(name) batches are not supported: use lz4 or no compression")
        default:
            throw LogStoreError(.corruptMessage, "unknown compression codec \(header.compressionCode)")
        }
    }

    /// Decodes every record of the single batch at the start of `bytes` (allocates; for tools
    /// and tests, not for the append or fetch paths).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(LogStoreError) -> [Record] {
        let header = try checkFraming(bytes)
        var scratch: [UInt8] = []
        var records: [Record] = []
        records.reserveCapacity(Int(header.recordCount))
        try withRecordsSection(of: bytes, header: header, scratch: &scratch) { (section) throws(LogStoreError) in
            try RecordView.forEach(in: section, count: Int(header.recordCount)) { view in
                records.append(
                    Record(
                        offset: header.baseOffset + Int64(view.offsetDelta),
                        timestamp: header.baseTimestamp &+ view.timestampDelta,
                        key: view.key.map { Array(section[$0]) },
                        value: view.value.map { Array(section[$0]) },
                        headers: view.decodeHeaders(in: section)))
            }
        }
        return records
    }

    /// Decodes all batches in `bytes` (whole batches only; a truncated tail is ignored, as a
    /// Kafka client does with a fetch response).
    public static func decodeAll(_ bytes: UnsafeRawBufferPointer) throws(LogStoreError) -> [Record] {
        var records: [Record] = []
        var position = 0
        while bytes.count - position >= RecordBatchHeader.size {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            guard let header = RecordBatchHeader(parsing: rest), header.totalSize <= rest.count else { break }
            records += try decode(rest)
            position += header.totalSize
        }
        return records
    }

    @usableFromInline
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
