import Dispatch
import Logging
import Synchronization

extension Log {
    /// Deletes whole closed segments that retention allows (`retention.ms` by their newest
    /// record, `retention.bytes` by total size, and anything wholly below the log start offset);
    /// never the active segment. The log start offset moves to the first remaining segment.
    /// - Returns: how many segments were deleted.
    @discardableResult
    public func enforceRetention() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            runOnWriter {
                continuation.resume(with: Result { try self.enforceRetentionOnWriter() })
            }
        }
    }

    private func enforceRetentionOnWriter() throws -> Int {
        let now = options.clock()
        let (doomed, checkpoint) = try state.withLock {
            (state) throws(LogStoreError) -> ([Segment], Checkpoint?) in
            try checkUsable(state)
            let config = state.config
            var total = Int64(state.segments.reduce(0) { $0 + $1.size })
            var doomed: [Segment] = []
            for segment in state.segments.dropLast() {
                let belowStart = segment.nextOffset <= state.logStartOffset
                let expired =
                    config.cleanupPolicy.contains(.delete) && config.retentionMs >= 0
                    && segment.maxTimestamp >= 0 && now - segment.maxTimestamp > config.retentionMs
                let oversized =
                    config.cleanupPolicy.contains(.delete) && config.retentionBytes >= 0
                    && total - Int64(segment.size) >= config.retentionBytes
                guard belowStart || expired || oversized else { break }
                doomed.append(segment)
                total -= Int64(segment.size)
            }
            guard !doomed.isEmpty else { return ([], nil) }
            state.segments.removeFirst(doomed.count)
            state.logStartOffset = max(state.logStartOffset, state.segments.first!.baseOffset)
            return (doomed, Checkpoint(recoveryPoint: state.recoveryPoint, logStartOffset: state.logStartOffset))
        }
        guard let checkpoint else { return 0 }
        // The new log start offset is persisted before files go, so a crash in between never
        // resurrects a half-deleted range as readable.
        writeCheckpoint(checkpoint)
        for segment in doomed {
            try segment.deleteFiles()
            logger.info("retention deleted a segment", metadata: ["baseOffset": "\(segment.baseOffset)"])
        }
        try fileSystem.syncDirectory(directory)
        return doomed.count
    }
}

extension Log {
    /// Moves the log start offset forward to `offset` (DeleteRecords): records below it are no
    /// longer readable, and whole segments below it are deleted. Returns the new log start offset.
    /// - Throws: `offsetOutOfRange` when `offset` is above the high watermark.
    @discardableResult
    public func deleteRecords(before offset: Int64) async throws -> Int64 {
        let start: Int64 = try await withCheckedThrowingContinuation { continuation in
            runOnWriter {
                continuation.resume(
                    with: Result {
                        let (start, checkpoint) = try self.state.withLock {
                            (state) throws(LogStoreError) -> (Int64, Checkpoint?) in
                            try self.checkUsable(state)
                            guard offset <= state.highWatermark else {
                                throw LogStoreError(
                                    .offsetOutOfRange,
                                    "cannot delete records up to \(offset): the high watermark is \(state.highWatermark)")
                            }
                            guard offset > state.logStartOffset else { return (state.logStartOffset, nil) }
                            state.logStartOffset = offset
                            return (offset, Checkpoint(recoveryPoint: state.recoveryPoint, logStartOffset: offset))
                        }
                        if let checkpoint { self.writeCheckpoint(checkpoint) }
                        return start
                    })
            }
        }
        try await enforceRetention()
        return start
    }
}
