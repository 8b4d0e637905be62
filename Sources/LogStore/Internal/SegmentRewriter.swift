import CLZ4

/// Rewrites closed segments for the cleaner: keeps each record whose key has no later record in
/// the offset map (and tombstones until their horizon), copying untouched batches byte for byte
/// and rebuilding the others with their original base offset, offset deltas, timestamps and
/// producer fields. Buffers are reused across batches and groups, so the loop allocates nothing
/// per record.
final class SegmentRewriter {
    /// What decides a record's fate in one pass.
    struct Rules {
        let map: OffsetMap
        /// Records at or after this offset were not in the map: kept as they are.
        let mapEnd: Int64
        /// Tombstones below this offset have been clean for `delete.retention.ms`: dropped.
        let tombstoneHorizon: Int64
        /// Base offset → producer id of each idempotent producer's last batch: kept, even empty.
        let producerLastBatches: [Int64: Int64]
    }

    /// Counters of one pass.
    struct Counters {
        var bytesScanned: Int64 = 0
        var bytesWritten: Int64 = 0
        var recordsKept: Int64 = 0
        var recordsRemoved: Int64 = 0
        var tombstonesKept: Int64 = 0
        var tombstonesDropped: Int64 = 0
        var producerBatchesRetained: Int64 = 0
    }

    /// Where rewritten batches go: a staged `.cleaned` segment, or nowhere (dry run).
    struct Output {
        let segment: Segment?
        let indexInterval: Int
        var size = 0
        var batches = 0
    }

    private var decompressed: [UInt8] = []
    private var recordBounds: [(start: Int, end: Int)] = []
    private var keep: [Bool] = []
    private var keptRecords: [UInt8] = []
    private var compressed: [UInt8] = []
    private var rebuilt: [UInt8] = []
    private var writeBuffer: [UInt8] = []
    private var writeBufferStart = 0
    private static let writeChunk = 1 << 20

    /// Bytes of reusable buffers currently allocated (reported with the map's memory).
    var bufferBytes: Int {
        decompressed.capacity + keptRecords.capacity + compressed.capacity + rebuilt.capacity + writeBuffer.capacity
            + recordBounds.capacity * 16 + keep.capacity
    }

    /// Rewrites the readable batches of `segment` into `output`.
    /// - Parameter tick: called after each batch with the bytes read and written since the last
    ///   call (throttling, progress, cancellation); may throw to stop.
    func rewrite(
        _ segment: Segment, limit: Int, rules: Rules, into output: inout Output, counters: inout Counters,
        tick: (Int, Int) throws -> Void
    ) throws {
        var scanner = BatchScanner(handle: segment.log, from: 0, to: limit, checkCRC: true)
        while true {
            let step = try scanner.next()
            guard case .batch(let header, let position) = step else {
                if case .invalid(let at, let reason) = step {
                    throw LogStoreError(
                        .corruptMessage,
                        "cannot compact \(segment.logPath): bad batch at byte \(at) (\(reason)); "
                            + "run `hooklog verify --repair` with the hub stopped")
                }
                break
            }
            _ = position
            counters.bytesScanned += Int64(header.totalSize)
            let written = try scanner.withCurrentBatch { batch in
                try rewriteBatch(batch, header: header, rules: rules, into: &output, counters: &counters)
            }
            counters.bytesWritten += Int64(written)
            try tick(header.totalSize, written)
        }
    }

    /// Decides every record of one batch and appends what survives; returns the bytes appended.
    private func rewriteBatch(
        _ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, rules: Rules, into output: inout Output,
        counters: inout Counters
    ) throws -> Int {
        // Batches wholly past the map are kept whole without looking inside.
        if header.baseOffset >= rules.mapEnd {
            counters.recordsKept += Int64(header.recordCount)
            return try append(batch, lastOffset: header.lastOffset, maxTimestamp: header.maxTimestamp, to: &output)
        }
        recordBounds.removeAll(keepingCapacity: true)
        keep.removeAll(keepingCapacity: true)
        var removed = 0
        var kept = 0
        try RecordBatch.withRecordsSection(of: batch, header: header, scratch: &decompressed) {
            (section) throws(LogStoreError) in
            var index = 0
            for _ in 0..<Int(header.recordCount) {
                let start = index
                let view = try RecordView.parse(section, at: &index)
                let offset = header.baseOffset + Int64(view.offsetDelta)
                var survives = true
                if offset < rules.mapEnd, let key = view.key {
                    let hash = OffsetMap.KeyHash(UnsafeRawBufferPointer(rebasing: section[key]))
                    if let latest = rules.map.get(hash), latest > offset {
                        survives = false
                        counters.recordsRemoved += 1
                    } else if view.value == nil && offset < rules.tombstoneHorizon {
                        survives = false
                        counters.tombstonesDropped += 1
                    }
                }
                if survives {
                    kept += 1
                    if view.value == nil && view.key != nil { counters.tombstonesKept += 1 }
                } else {
                    removed += 1
                }
                recordBounds.append((start, index))
                keep.append(survives)
            }
            guard removed > 0 else { return }
            keptRecords.removeAll(keepingCapacity: true)
            for (i, bounds) in recordBounds.enumerated() where keep[i] {
                keptRecords.append(contentsOf: UnsafeRawBufferPointer(rebasing: section[bounds.start..<bounds.end]))
            }
        }
        counters.recordsKept += Int64(kept)
        if removed == 0 {
            return try append(batch, lastOffset: header.lastOffset, maxTimestamp: header.maxTimestamp, to: &output)
        }
        let isProducersLast = header.producerId >= 0 && rules.producerLastBatches[header.baseOffset] == header.producerId
        if kept == 0 && !isProducersLast { return 0 }
        if kept == 0 { counters.producerBatchesRetained += 1 }
        try rebuild(batch, header: header, recordCount: kept)
        return try rebuilt.withUnsafeBytes { raw in
            try append(raw, lastOffset: header.lastOffset, maxTimestamp: header.maxTimestamp, to: &output)
        }
    }

    /// Builds a batch from `batch`'s header and `keptRecords` into `rebuilt`: same base offset,
    /// last offset delta, timestamps and producer fields; new length, record count and CRC. LZ4
    /// batches are recompressed with LZ4; a batch left with no records (kept only for its
    /// producer's sequence state) is written uncompressed and empty, as Kafka does.
    private func rebuild(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, recordCount: Int) throws {
        rebuilt.removeAll(keepingCapacity: true)
        rebuilt.append(contentsOf: UnsafeRawBufferPointer(rebasing: batch[0..<RecordBatchHeader.size]))
        var codec = header.compressionCode
        if recordCount == 0 {
            codec = Compression.none.rawValue
        } else if codec == Compression.lz4.rawValue {
            try keptRecords.withUnsafeBytes { raw in try LZ4Codec.compress(raw, into: &compressed) }
            rebuilt.append(contentsOf: compressed)
        } else {
            rebuilt.append(contentsOf: keptRecords)
        }
        let attributes = (header.attributes & ~0x07) | Int16(codec)
        rebuilt.withUnsafeMutableBytes { raw in
            raw.storeBytes(
                of: Int32(raw.count - RecordBatchHeader.logOverhead).bigEndian,
                toByteOffset: RecordBatchHeader.Field.batchLength, as: Int32.self)
            raw.storeBytes(of: attributes.bigEndian, toByteOffset: RecordBatchHeader.Field.attributes, as: Int16.self)
            raw.storeBytes(
                of: Int32(recordCount).bigEndian, toByteOffset: RecordBatchHeader.Field.recordCount, as: Int32.self)
            let crc = RecordBatchHeader.computeCRC(of: UnsafeRawBufferPointer(raw))
            raw.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchHeader.Field.crc, as: UInt32.self)
        }
    }

    /// Appends one finished batch to the output (buffered) and indexes it.
    private func append(
        _ batch: UnsafeRawBufferPointer, lastOffset: Int64, maxTimestamp: Int64, to output: inout Output
    ) throws -> Int {
        let position = output.size
        output.size += batch.count
        output.batches += 1
        guard let segment = output.segment else { return batch.count }
        if writeBuffer.isEmpty { writeBufferStart = position }
        writeBuffer.append(contentsOf: batch)
        segment.didAppend(
            position: position, size: batch.count, lastOffset: lastOffset, maxTimestamp: maxTimestamp, now: 0,
            indexInterval: output.indexInterval)
        if writeBuffer.count >= Self.writeChunk { try flush(output) }
        return batch.count
    }

    /// Writes what is buffered to the output segment.
    func flush(_ output: Output) throws {
        guard let segment = output.segment, !writeBuffer.isEmpty else { return }
        try writeBuffer.withUnsafeBytes { raw in try segment.log.write(raw, at: Int64(writeBufferStart)) }
        writeBufferStart += writeBuffer.count
        writeBuffer.removeAll(keepingCapacity: true)
    }

    /// Forgets buffered output (after a failure).
    func discard() { writeBuffer.removeAll(keepingCapacity: true) }
}
