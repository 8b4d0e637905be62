import Dispatch
import Logging
import Synchronization

extension Log {
    /// Compacts the log (`cleanup.policy` with `compact`): keeps the latest record of each key,
    /// drops tombstones that have been in the clean range for `delete.retention.ms`, merges small
    /// closed segments up to `segment.bytes`, and swaps the cleaned segments in crash-safely.
    /// Every surviving record keeps its offset and bytes; the active segment is never touched.
    /// Appends and reads go on meanwhile (appends pause only for the swap's renames and directory
    /// fsyncs); a read that started before a swap finishes on the old segments.
    ///
    /// The work runs on a dispatch thread; cancelling the task stops it between batches and
    /// leaves the log as it was.
    /// - Parameter progress: called from that thread as the work advances (about every MiB).
    /// - Throws: `invalidConfig` for a topic that is not compacted, `compactionInProgress` while
    ///   another compaction of this log runs, `diskFull` when the cleaned segments would not
    ///   fit above ``CompactionOptions/minFreeBytes``, `corruptMessage` for a bad batch in a closed
    ///   segment, `offline` or `closed`, `CancellationError`.
    public func compact(
        _ options: CompactionOptions = CompactionOptions(),
        progress: (@Sendable (CompactionProgress) -> Void)? = nil
    ) async throws -> CompactionReport {
        let started = compactionRunning.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard started else {
            throw LogStoreError(
                .compactionInProgress, "\(topic)-\(partition) is already being compacted; try again when it finishes")
        }
        defer { compactionRunning.withLock { $0 = false } }
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global(qos: .utility).async {
                    continuation.resume(
                        with: Result {
                            try self.compactBlocking(options, progress: progress, isCancelled: { cancelled.isSet })
                        })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Runs passes until the dirty range is clean (or `maxPasses`, or the first pass of a dry run).
    func compactBlocking(
        _ options: CompactionOptions, progress: (@Sendable (CompactionProgress) -> Void)?,
        isCancelled: () -> Bool
    ) throws -> CompactionReport {
        let clock = ContinuousClock()
        let started = clock.now
        let config = try state.withLock { (state) throws(LogStoreError) -> LogConfig in
            try checkUsable(state)
            return state.config
        }
        guard config.isCompacted else {
            throw LogStoreError(
                .invalidConfig,
                "\(topic) has cleanup.policy=\(LogConfig.CleanupPolicy.allCases.filter { config.cleanupPolicy.contains($0) }.map(\.rawValue).joined(separator: ",")); "
                    + "only topics with cleanup.policy=compact can be compacted")
        }
        let before = info
        var report = CompactionReport(topic: topic, partition: partition, dryRun: options.dryRun)
        report.segmentsBefore = before.segmentCount
        report.bytesBefore = Int64(before.sizeInBytes)
        let map = OffsetMap(bytes: options.mapBytes)
        report.mapBytesAllocated = map.allocatedBytes
        let rewriter = SegmentRewriter()
        var reclaimed: (segments: Int, bytes: Int64) = (0, 0)
        var complete = true
        if !options.dryRun { removeCleanedFiles() }
        while true {
            if let maxPasses = options.maxPasses, report.passes >= maxPasses {
                complete = false
                break
            }
            guard
                let outcome = try runPass(
                    number: report.passes + 1, config: config, map: map, rewriter: rewriter, options: options,
                    report: &report, progress: progress, isCancelled: isCancelled)
            else { break }
            report.passes += 1
            reclaimed.segments += outcome.segmentsRemoved
            reclaimed.bytes += outcome.bytesRemoved
            report.cleanedUpTo = outcome.cleanedUpTo
            complete = outcome.cleanedUpTo >= outcome.firstUncleanable
            if options.dryRun || outcome.cleanedUpTo >= outcome.firstUncleanable { break }
        }
        let after = info
        report.complete = complete
        if options.dryRun {
            report.segmentsAfter = report.segmentsBefore - reclaimed.segments
            report.bytesAfter = report.bytesBefore - reclaimed.bytes
            if report.passes == 0 { report.cleanedUpTo = after.cleanerOffset }
        } else {
            report.segmentsAfter = after.segmentCount
            report.bytesAfter = Int64(after.sizeInBytes)
            report.cleanedUpTo = after.cleanerOffset
        }
        report.duration = clock.now - started
        logger.info(
            "compaction finished",
            metadata: [
                "report": "\(report)", "bytesScanned": "\(report.bytesScanned)",
                "bytesWritten": "\(report.bytesWritten)",
            ])
        return report
    }

    /// One group of consecutive closed segments that become one cleaned segment.
    private struct Group {
        var segments: [Segment]
        var limits: [Int]
        /// The base offset of the segment after the group: the group replaces offsets [base, end).
        var end: Int64
        var inputBytes: Int { limits.reduce(0, +) }
    }

    /// A cleaned segment ready to swap in, replacing `replaced` (offsets [base, end)).
    private struct Staged {
        var base: Int64
        var end: Int64
        var segment: Segment?
        var replaced: [Segment]
    }

    private struct PassOutcome {
        var cleanedUpTo: Int64
        var firstUncleanable: Int64
        var segmentsRemoved: Int
        var bytesRemoved: Int64
    }

    /// One pass: map the dirty range (as far as the map holds), rewrite every closed segment up
    /// to there, swap. Returns nil when nothing is dirty.
    private func runPass(
        number: Int, config: LogConfig, map: OffsetMap, rewriter: SegmentRewriter, options: CompactionOptions,
        report: inout CompactionReport, progress: (@Sendable (CompactionProgress) -> Void)?,
        isCancelled: () -> Bool
    ) throws -> PassOutcome? {
        // A consistent view: closed segments whose bytes are all published, the dirty start and
        // where the active (or not yet published) part begins.
        struct View {
            var closed: [Segment] = []
            var limits: [Int] = []
            var firstUncleanable: Int64 = 0
            var dirtyStart: Int64 = 0
            var dirtyPosition = 0
            var logStart: Int64 = 0
            var cleaner = CleanerCheckpoint()
        }
        let view = try state.withLock { (state) throws(LogStoreError) -> View in
            try checkUsable(state)
            var view = View()
            view.logStart = state.logStartOffset
            view.cleaner = state.cleaner
            var next = state.segments.count - 1
            for (i, segment) in state.segments.dropLast().enumerated() {
                if segment.readableSize < segment.size {
                    next = i
                    break
                }
                if segment.nextOffset <= state.logStartOffset { continue }
                view.closed.append(segment)
                view.limits.append(segment.readableSize)
            }
            view.firstUncleanable = state.segments[next].baseOffset
            view.dirtyStart = max(state.cleaner.cleanerOffset, state.logStartOffset)
            if let first = view.closed.last(where: { $0.baseOffset <= view.dirtyStart }) {
                view.dirtyPosition = first.offsetIndex.lookup(view.dirtyStart)
            }
            return view
        }
        guard view.dirtyStart < view.firstUncleanable, !view.closed.isEmpty else { return nil }

        var counters = SegmentRewriter.Counters()
        let dirtyStart = view.dirtyStart
        var scannedSoFar = report.bytesScanned
        var writtenSoFar = report.bytesWritten
        var toScan = scannedSoFar
        for (segment, limit) in zip(view.closed, view.limits) where segment.nextOffset > view.dirtyStart {
            toScan += Int64(limit)
        }
        var sinceTick = 0
        var phase = CompactionProgress.Phase.mapping
        // Throttling, progress and cancellation, about every MiB of I/O.
        func tick(read: Int, written: Int) throws {
            options.throttle?.consumeBlocking(read + written)
            scannedSoFar += Int64(read)
            writtenSoFar += Int64(written)
            sinceTick += read + written
            if sinceTick >= 1 << 20 {
                sinceTick = 0
                if isCancelled() { throw CancellationError() }
                progress?(
                    CompactionProgress(
                        phase: phase, pass: number, bytesScanned: scannedSoFar, bytesToScan: toScan,
                        bytesWritten: writtenSoFar))
            }
        }

        // 1. The key → latest-offset map over the dirty range, as far as it holds.
        map.clear()
        var mapEnd = view.firstUncleanable
        var scratch: [UInt8] = []
        mapping: for (segment, limit) in zip(view.closed, view.limits) where segment.nextOffset > view.dirtyStart {
            let from = segment.baseOffset <= view.dirtyStart ? view.dirtyPosition : 0
            var scanner = BatchScanner(handle: segment.log, from: from, to: limit, checkCRC: true)
            while true {
                let step = try scanner.next()
                guard case .batch(let header, _) = step else {
                    if case .invalid(let at, let reason) = step {
                        throw LogStoreError(
                            .corruptMessage,
                            "cannot compact \(segment.logPath): bad batch at byte \(at) (\(reason)); "
                                + "run `hooklog verify --repair` with the hub stopped")
                    }
                    break
                }
                counters.bytesScanned += Int64(header.totalSize)
                try tick(read: header.totalSize, written: 0)
                if header.lastOffset < view.dirtyStart { continue }
                let full = try scanner.withCurrentBatch { batch in
                    try RecordBatch.withRecordsSection(of: batch, header: header, scratch: &scratch) {
                        (section) throws(LogStoreError) -> Int64? in
                        var index = 0
                        for _ in 0..<Int(header.recordCount) {
                            let record = try RecordView.parse(section, at: &index)
                            let offset = header.baseOffset + Int64(record.offsetDelta)
                            // A batch can straddle the dirty start: older records are clean.
                            guard offset >= dirtyStart, let key = record.key else { continue }
                            if !map.put(OffsetMap.KeyHash(UnsafeRawBufferPointer(rebasing: section[key])), offset: offset) {
                                return offset
                            }
                        }
                        return nil
                    }
                }
                if let full {
                    mapEnd = full
                    break mapping
                }
            }
        }
        report.keysInDirtyRange += Int64(map.count)
        report.mapEntriesPeak = max(report.mapEntriesPeak, map.count)

        // 2. Group the closed segments up to the map's end, each group up to segment.bytes.
        var groups: [Group] = []
        for (i, segment) in view.closed.enumerated() where segment.baseOffset < mapEnd {
            let limit = view.limits[i]
            let end = i + 1 < view.closed.count ? view.closed[i + 1].baseOffset : view.firstUncleanable
            if var last = groups.last, last.inputBytes + limit <= config.segmentBytes,
                segment.nextOffset - last.segments[0].baseOffset <= Int64(UInt32.max),
                last.end == segment.baseOffset
            {
                last.segments.append(segment)
                last.limits.append(limit)
                last.end = end
                groups[groups.count - 1] = last
            } else {
                groups.append(Group(segments: [segment], limits: [limit], end: end))
            }
        }
        toScan += Int64(groups.reduce(0) { $0 + $1.inputBytes })
        phase = .rewriting

        // 3. Rewrite.
        let producerLastBatches = runOnWriterAndWait {
            var last: [Int64: Int64] = [:]
            for (id, producer) in writerScratch.producers.producers {
                if let batch = producer.batches.last { last[batch.firstOffset] = id }
            }
            return last
        }
        let now = self.options.clock()
        let (horizonTime, overflow) = now.subtractingReportingOverflow(config.deleteRetentionMs)
        let rules = SegmentRewriter.Rules(
            map: map, mapEnd: mapEnd,
            tombstoneHorizon: overflow ? 0 : view.cleaner.tombstoneHorizon(cleanBefore: horizonTime),
            producerLastBatches: producerLastBatches)
        var staged: [Staged] = []
        var leadingEmpty: [Segment] = []
        var removedSegments = 0
        var removedBytes: Int64 = 0
        do {
            for group in groups {
                var base = group.segments[0].baseOffset
                if let first = leadingEmpty.first,
                    group.segments.last!.nextOffset - first.baseOffset <= Int64(UInt32.max)
                {
                    base = first.baseOffset
                }
                if base != leadingEmpty.first?.baseOffset { leadingEmpty = [] }
                var segment: Segment?
                if !options.dryRun {
                    if let floor = options.minFreeBytes {
                        let free = try fileSystem.availableBytes(at: directory)
                        if free - Int64(group.inputBytes) < floor {
                            throw LogStoreError(
                                .diskFull,
                                "compaction of \(topic)-\(partition) needs up to \(group.inputBytes) bytes for a cleaned "
                                    + "segment but only \(free) are free (keeping \(floor) for appends); free space and retry")
                        }
                    }
                    var stagingConfig = config
                    let entries = group.inputBytes / max(config.indexIntervalBytes, RecordBatchHeader.size) + 2
                    stagingConfig.segmentIndexBytes = min(config.segmentIndexBytes, entries * TimeIndex.entrySize)
                    segment = try Segment(
                        fileSystem: fileSystem, directory: directory, baseOffset: base, config: stagingConfig,
                        active: true, suffix: SegmentSwap.cleanedSuffix)
                    try segment!.log.truncate(to: 0)
                }
                var output = SegmentRewriter.Output(segment: segment, indexInterval: config.indexIntervalBytes)
                for (old, limit) in zip(group.segments, group.limits) {
                    try rewriter.rewrite(old, limit: limit, rules: rules, into: &output, counters: &counters) {
                        read, written in try tick(read: read, written: written)
                    }
                }
                try rewriter.flush(output)
                let replaced = leadingEmpty + group.segments
                removedBytes += Int64(group.inputBytes) - Int64(output.size)
                if output.batches == 0 {
                    try segment?.deleteFiles()
                    if staged.isEmpty {
                        leadingEmpty = replaced
                    } else {
                        staged[staged.count - 1].end = group.end
                        staged[staged.count - 1].replaced += group.segments
                    }
                    removedSegments += group.segments.count
                } else {
                    try segment?.seal()
                    staged.append(Staged(base: base, end: group.end, segment: segment, replaced: replaced))
                    leadingEmpty = []
                    removedSegments += group.segments.count - 1
                }
            }
        } catch {
            rewriter.discard()
            for item in staged { try? item.segment?.deleteFiles() }
            removeCleanedFiles()
            throw error
        }
        report.recordsKept += counters.recordsKept
        report.recordsRemoved += counters.recordsRemoved
        report.tombstonesKept += counters.tombstonesKept
        report.tombstonesDropped += counters.tombstonesDropped
        report.producerBatchesRetained += counters.producerBatchesRetained
        report.bytesScanned += counters.bytesScanned
        report.bytesWritten += counters.bytesWritten
        let outcome = PassOutcome(
            cleanedUpTo: mapEnd, firstUncleanable: view.firstUncleanable, segmentsRemoved: removedSegments,
            bytesRemoved: removedBytes)
        if options.dryRun { return outcome }

        // 4. Swap (on the writer queue, so retention, rolls and close never interleave).
        progress?(
            CompactionProgress(
                phase: .swapping, pass: number, bytesScanned: report.bytesScanned, bytesToScan: toScan,
                bytesWritten: report.bytesWritten))
        if isCancelled() {
            for item in staged { try? item.segment?.deleteFiles() }
            throw CancellationError()
        }
        try runOnWriterAndWait {
            try install(staged, emptiedFront: leadingEmpty, config: config, cleanedUpTo: mapEnd, at: now)
        }
        return outcome
    }

    /// Deletes leftover `.cleaned` files of this log (after a failed or cancelled pass).
    private func removeCleanedFiles() {
        guard let names = try? fileSystem.contentsOfDirectory(directory) else { return }
        for name in names where name.hasSuffix(SegmentSwap.cleanedSuffix) {
            try? fileSystem.removeFile(Path.join(directory, name))
        }
    }

    /// Swaps the staged segments in (writer queue only); see ``SegmentSwap`` for the protocol.
    /// `emptiedFront` are segments at the front whose records all went: the log start offset
    /// moves past them and they are deleted, as retention would.
    private func install(
        _ staged: [Staged], emptiedFront: [Segment], config: LogConfig, cleanedUpTo: Int64, at now: Int64
    ) throws {
        let replaced = (staged.flatMap(\.replaced) + emptiedFront).sorted { $0.baseOffset < $1.baseOffset }
        let current = state.withLock { state -> Bool in
            guard !state.closed, state.offlineError == nil else { return false }
            guard let first = replaced.first else { return true }
            guard let at = state.segments.firstIndex(where: { $0 === first }) else { return false }
            return at + replaced.count < state.segments.count
                && zip(state.segments[at..<(at + replaced.count)], replaced).allSatisfy { $0 === $1 }
        }
        guard current else {
            // Retention, DeleteRecords or a close got there first: this pass's work is void.
            for item in staged { try? item.segment?.deleteFiles() }
            logger.info("compaction pass discarded: the log changed under it")
            return
        }
        do {
            // Step 2: .cleaned → .swap, the log last; the directory fsync commits the swap.
            for item in staged {
                guard let segment = item.segment else { continue }
                try fileSystem.rename(segment.indexPath, to: Path.join(directory, Segment.fileName(item.base, ".index.swap")))
                try fileSystem.rename(
                    segment.timeIndexPath, to: Path.join(directory, Segment.fileName(item.base, ".timeindex.swap")))
                try fileSystem.rename(
                    segment.logPath, to: Path.join(directory, SegmentSwap.logSwapName(base: item.base, end: item.end)))
            }
            try fileSystem.syncDirectory(directory)
        } catch {
            throw goOffline(error)
        }
        do {
            // Steps 3 and 4: replaced segments go, the cleaned ones take their names.
            let names = try fileSystem.contentsOfDirectory(directory)
            for item in staged {
                try SegmentSwap.removeReplaced(base: item.base, end: item.end, directory: directory, names: names, fileSystem: fileSystem)
                _ = try SegmentSwap.moveIndexes(base: item.base, directory: directory, fileSystem: fileSystem)
            }
            try fileSystem.syncDirectory(directory)
            for item in staged {
                try SegmentSwap.moveLog(base: item.base, end: item.end, directory: directory, fileSystem: fileSystem)
            }
            try fileSystem.syncDirectory(directory)
            var fresh: [Segment] = []
            for item in staged {
                let segment = try Segment(
                    fileSystem: fileSystem, directory: directory, baseOffset: item.base, config: config, active: false)
                try segment.restoreFromIndexes(config: config, truncateOnFailure: false)
                fresh.append(segment)
            }
            var frontCheckpoint: Checkpoint?
            state.withLock { state in
                guard let first = replaced.first, let at = state.segments.firstIndex(where: { $0 === first }) else {
                    return
                }
                state.segments.replaceSubrange(at..<(at + replaced.count), with: fresh)
                if !emptiedFront.isEmpty {
                    // Nothing readable is left before the next segment.
                    let next = state.segments[at].baseOffset
                    if next > state.logStartOffset {
                        state.logStartOffset = next
                        frontCheckpoint = Checkpoint(recoveryPoint: state.recoveryPoint, logStartOffset: next)
                    }
                }
            }
            if !emptiedFront.isEmpty {
                // As retention does: the new log start offset is durable before files go.
                if let frontCheckpoint { writeCheckpoint(frontCheckpoint) }
                for segment in emptiedFront { try segment.deleteFiles() }
                try fileSystem.syncDirectory(directory)
            }
        } catch {
            throw goOffline(error)
        }
        let checkpoint = state.withLock { state -> CleanerCheckpoint in
            state.cleaner.advance(to: cleanedUpTo, at: now)
            return state.cleaner
        }
        do {
            try checkpoint.write(fileSystem: fileSystem, directory: directory)
        } catch {
            logger.warning("cannot write the cleaner checkpoint", metadata: ["error": "\(error)"])
        }
    }
}

/// Set when the task waiting for a compaction is cancelled; the work polls it between batches.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
