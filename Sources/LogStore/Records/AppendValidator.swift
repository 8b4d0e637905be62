/// Checks batches from a producer before they are appended: framing, CRC, codec, record count,
/// offset deltas and every record's layout (decompressing LZ4), plus the topic's rules. Batches
/// that pass are stored byte for byte; nothing is re-encoded.
public struct AppendValidator: Sendable {
    /// What the validator learned about one batch, enough to append and index it.
    public struct Batch: Sendable, Hashable {
        /// Position of the batch in the validated bytes.
        public var position: Int
        public var size: Int
        public var recordCount: Int32
        public var lastOffsetDelta: Int32
        public var maxTimestamp: Int64
        public var producerId: Int64
        public var producerEpoch: Int16
        public var baseSequence: Int32
    }

    /// The topic's `max.message.bytes`: the largest batch accepted.
    public var maxMessageBytes: Int
    /// True on compacted topics, where every record needs a key.
    public var requireKeys: Bool

    public init(maxMessageBytes: Int, requireKeys: Bool) {
        self.maxMessageBytes = maxMessageBytes
        self.requireKeys = requireKeys
    }

    /// Validates every batch in `bytes` (one or more, back to back, nothing else).
    /// - Parameter batches: cleared, then filled with one entry per batch.
    /// - Throws: a ``LogStoreError`` whose code names the first problem found.
    public func validate(_ bytes: UnsafeRawBufferPointer, into batches: inout [Batch]) throws(LogStoreError) {
        batches.removeAll(keepingCapacity: true)
        guard !bytes.isEmpty else { throw LogStoreError(.corruptMessage, "no record batches") }
        var scratch: [UInt8] = []
        var position = 0
        while position < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            if let header = RecordBatchHeader(parsing: rest), header.totalSize > maxMessageBytes,
                header.batchLength >= RecordBatchHeader.minimumBatchLength
            {
                throw LogStoreError(
                    .messageTooLarge,
                    "batch of \(header.totalSize) bytes exceeds max.message.bytes (\(maxMessageBytes))")
            }
            let header = try RecordBatch.checkFraming(rest)
            try check(header)
            let batch = UnsafeRawBufferPointer(rebasing: rest[..<header.totalSize])
            let limit = min(RecordBatch.maxDecompressedSize, max(16 << 20, 16 * maxMessageBytes))
            try RecordBatch.withRecordsSection(of: batch, header: header, scratch: &scratch, limit: limit) {
                (section) throws(LogStoreError) in
                var expected: Int32 = 0
                try RecordView.forEach(in: section, count: Int(header.recordCount)) { (view) throws(LogStoreError) in
                    guard view.offsetDelta == expected else {
                        throw LogStoreError(
                            .corruptMessage,
                            "record \(expected) has offset delta \(view.offsetDelta); deltas must count from 0")
                    }
                    if requireKeys && view.key == nil {
                        throw LogStoreError(
                            .invalidRecord, "this topic is compacted (cleanup.policy=compact): every record needs a key")
                    }
                    if header.baseTimestamp.addingReportingOverflow(view.timestampDelta).overflow {
                        throw LogStoreError(.corruptMessage, "record \(expected) has a timestamp out of range")
                    }
                    expected += 1
                }
            }
            batches.append(
                Batch(
                    position: position, size: header.totalSize, recordCount: header.recordCount,
                    lastOffsetDelta: header.lastOffsetDelta,
                    // The header's max timestamp, as recovery and the indexes read it.
                    maxTimestamp: header.maxTimestamp,
                    producerId: header.producerId, producerEpoch: header.producerEpoch,
                    baseSequence: header.baseSequence))
            position += header.totalSize
        }
    }

    private func check(_ header: RecordBatchHeader) throws(LogStoreError) {
        if header.isControl || header.isTransactional {
            throw LogStoreError(
                .transactionsNotSupported,
                "transactional and control batches are not supported: Hooklog has no transactions")
        }
        guard header.recordCount > 0 else {
            throw LogStoreError(.corruptMessage, "batch has no records")
        }
        guard header.lastOffsetDelta == header.recordCount - 1 else {
            throw LogStoreError(
                .corruptMessage,
                "last offset delta \(header.lastOffsetDelta) does not match \(header.recordCount) records")
        }
    }
}
