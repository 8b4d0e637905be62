import NIOCore
import Synchronization

/// Whole batches read from a log, with the offsets a Fetch response needs.
public struct LogReadResult: Sendable {
    /// Whole batches; the first one holds the requested offset (it may start before it, as in
    /// Kafka, and clients skip the records before their offset). Empty at the high watermark.
    public var records: ByteBuffer
    public var highWatermark: Int64
    public var logStartOffset: Int64
}

extension Log {
    /// The most one ``read(from:maxBytes:)`` returns, unless its first batch alone is larger.
    public static let maxReadBytes = 8 << 20

    /// Reads whole batches from `offset`: as many as fit in `maxBytes`, but at least one whole
    /// batch, and never past the high watermark.
    /// - Throws: `offsetOutOfRange` below the log start offset or above the high watermark;
    ///   `offline` or `closed`.
    public func read(from offset: Int64, maxBytes requested: Int) throws -> LogReadResult {
        // A client asks for what it likes; one read holds at most this much (plus a first batch
        // that is larger on its own), and the client simply asks again.
        let maxBytes = min(requested, Self.maxReadBytes)
        struct Candidate {
            var segment: Segment
            var start: Int
            var limit: Int
        }
        let (candidates, highWatermark, logStart) = try state.withLock {
            (state) throws(LogStoreError) -> ([Candidate], Int64, Int64) in
            try checkUsable(state)
            guard offset >= state.logStartOffset && offset <= state.highWatermark else {
                throw LogStoreError(
                    .offsetOutOfRange,
                    "offset \(offset) is outside \(topic)-\(partition)'s range "
                        + "[\(state.logStartOffset), \(state.highWatermark)]")
            }
            if offset == state.highWatermark { return ([], state.highWatermark, state.logStartOffset) }
            let first = state.segments.lastIndex(where: { $0.baseOffset <= offset }) ?? 0
            let candidates = state.segments[first...].enumerated().map { i, segment in
                Candidate(
                    segment: segment, start: i == 0 ? segment.offsetIndex.lookup(offset) : 0,
                    limit: segment.readableSize)
            }
            return (candidates, state.highWatermark, state.logStartOffset)
        }
        for candidate in candidates {
            guard let position = try candidate.segment.position(of: offset, from: candidate.start, limit: candidate.limit)
            else { continue }
            let records = try candidate.segment.read(from: position, maxBytes: maxBytes, limit: candidate.limit)
            return LogReadResult(records: records, highWatermark: highWatermark, logStartOffset: logStart)
        }
        return LogReadResult(records: ByteBuffer(), highWatermark: highWatermark, logStartOffset: logStart)
    }

    /// The first record at or after `timestamp` (by record timestamp, as ListOffsets does), or
    /// nil when every record is older.
    public func offset(forTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        struct Candidate {
            var segment: Segment
            var start: Int
            var limit: Int
        }
        let (candidates, logStart) = try state.withLock { (state) throws(LogStoreError) -> ([Candidate], Int64) in
            try checkUsable(state)
            let candidates = state.segments.filter { $0.maxTimestamp >= timestamp && $0.readableSize > 0 }.map {
                segment in
                var start = 0
                if let before = segment.timeIndex.lookupBefore(timestamp) {
                    start = segment.offsetIndex.lookup(before + 1)
                }
                return Candidate(segment: segment, start: start, limit: segment.readableSize)
            }
            return (candidates, state.logStartOffset)
        }
        for candidate in candidates {
            var scanner = BatchScanner(
                handle: candidate.segment.log, from: candidate.start, to: candidate.limit, checkCRC: true,
                chunkSize: 256 * 1024)
            while case .batch(let header, _) = try scanner.next() {
                guard header.maxTimestamp >= timestamp, header.lastOffset >= logStart else { continue }
                let records = try scanner.withCurrentBatch { try RecordBatch.decode($0) }
                if let match = records.first(where: { $0.timestamp >= timestamp && $0.offset >= logStart }) {
                    return (match.offset, match.timestamp)
                }
            }
        }
        return nil
    }
}
