import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import Synchronization

/// What an append got: the offsets assigned to its records.
public struct AppendResult: Sendable, Hashable {
    /// Offset of the first record appended.
    public var baseOffset: Int64
    /// Offset of the last record appended.
    public var lastOffset: Int64
    /// The log start offset at the time of the append (Produce responses carry it).
    public var logStartOffset: Int64
}

/// Appends waiting for the writer.
struct AppendQueue {
    struct Pending {
        var bytes: ByteBuffer
        var batches: [AppendValidator.Batch]
        /// nil for an append the caller writes itself (see `callerMayWrite`).
        var continuation: CheckedContinuation<AppendResult, any Error>?
    }

    var items: [Pending] = []
    /// Set while a writer owns the log's write path (a drain on the writer queue, or a caller
    /// writing its own append): whoever finds it clear and work to do takes it.
    var drainScheduled = false
    /// Appends in the last group written and synced (1 when one appender has the log to itself).
    var lastGroup = 0
    /// Groups written and waiting for the syncer's fdatasync (flush policy `always`), in order.
    var unsynced: [WrittenGroup] = []
    /// Set while the syncer runs (see `Log+Sync.swift`).
    var syncing = false
    var closing = false
    var flushScheduled = false
}

/// Buffers the writer reuses between drains, so the hot path does not allocate per append.
final class WriterScratch: @unchecked Sendable {
    /// Batches of one drain, copied back to back with their offsets assigned.
    var writeBuffer = ByteBuffer()
    var placements: [Placement] = []
    /// Idempotent producers' state, as of everything appended (not necessarily synced yet).
    var producers = ProducerStateTable()
    struct Placement {
        var size: Int
        var lastOffset: Int64
        var maxTimestamp: Int64
    }
}

extension Log {
    /// Appends one or more record batches (as a producer sent them) and returns the offsets
    /// assigned, once the flush policy allows acknowledging them.
    /// - Throws: ``LogStoreError`` — validation codes (`corruptMessage`, `messageTooLarge`,
    ///   `unsupportedCompression`, `invalidRecord`, `transactionsNotSupported`), `diskFull`,
    ///   `offline` or `closed`.
    /// - Parameter onQueued: called exactly once, as soon as the append has its place in the
    ///   log's order (or has failed before getting one); callers that must keep several appends
    ///   in order start the next one then, without waiting for this one's fsync.
    /// - Parameter callerMayWrite: when the writer is idle and the previous group was a lone
    ///   append, write and sync this append on the calling thread, blocking it for the fsync,
    ///   instead of waking the writer and being woken by it (two thread switches fewer). For a
    ///   caller that owns its thread and has nothing else to do meanwhile, such as an event loop
    ///   with a single producer; never for Swift's cooperative pool.
    public func append(
        _ records: ByteBuffer, onQueued: (@Sendable () -> Void)? = nil, callerMayWrite: Bool = false
    ) async throws -> AppendResult {
        var queued = false
        defer { if !queued { onQueued?() } }
        let config = try state.withLock { (state) throws(LogStoreError) in
            try checkUsable(state)
            return state.config
        }
        let validator = AppendValidator(maxMessageBytes: config.maxMessageBytes, requireKeys: config.isCompacted)
        var batches: [AppendValidator.Batch] = []
        try records.withUnsafeReadableBytes { raw in try validator.validate(raw, into: &batches) }
        if callerMayWrite, let result = writeOnCaller(records, batches, onQueued: onQueued) {
            queued = true
            return try result.get()
        }
        queued = true
        return try await withCheckedThrowingContinuation { continuation in
            defer { onQueued?() }
            let pending = AppendQueue.Pending(bytes: records, batches: batches, continuation: continuation)
            let schedule = queue.withLock { queue -> Bool? in
                if queue.closing { return nil }
                queue.items.append(pending)
                if queue.drainScheduled { return false }
                queue.drainScheduled = true
                return true
            }
            switch schedule {
            case nil: continuation.resume(throwing: LogStoreError(.closed, "\(topic)-\(partition) is closed"))
            case true?: writerQueue.async { self.drain() }
            case false?: break
            }
        }
    }

    /// Writes one append on the calling thread if the writer is idle and was last writing lone
    /// appends; nil (nothing done) otherwise. Runs on the writer queue (`sync` executes it on
    /// this thread) so that retention, compaction and flushes stay exclusive of it.
    private func writeOnCaller(
        _ records: ByteBuffer, _ batches: [AppendValidator.Batch], onQueued: (@Sendable () -> Void)?
    ) -> Result<AppendResult, any Error>? {
        // A slow disk must not hold up the caller's other work: after a slow fsync, the writer
        // takes appends again until fsyncs are quick.
        guard lastSyncNanoseconds.load(ordering: .relaxed) <= options.callerWriteSyncLimit.nanoseconds,
            otherWriterWork.load(ordering: .relaxed) == 0
        else { return nil }
        let claimed = queue.withLock { queue -> Bool in
            guard !queue.closing, !queue.drainScheduled, queue.items.isEmpty, !queue.syncing, queue.lastGroup <= 1
            else { return false }
            queue.drainScheduled = true
            return true
        }
        guard claimed else { return nil }
        let pending = AppendQueue.Pending(bytes: records, batches: batches, continuation: nil)
        let result = writerQueue.sync { () -> Result<AppendResult, any Error> in
            // The append's place in the log: here, not at the claim. A flush or close already on
            // the writer queue may drain appends queued since the claim, and those go first,
            // answered by the syncer before this one.
            awaitSyncs()
            onQueued?()
            do {
                let group = try writeGroup([pending])
                if group.awaitsSync { try syncAndPublish([group]) }
                return group.results[0].mapError { $0 }
            } catch {
                return .failure(error)
            }
        }
        let handOff = queue.withLock { queue -> Bool in
            queue.lastGroup = 1
            if queue.items.isEmpty {
                queue.drainScheduled = false
                return false
            }
            return true
        }
        if handOff { writerQueue.async { self.drain() } }
        return result
    }

    /// The writer loop: takes everything queued, writes it, and repeats while more arrived in the
    /// meantime. Under the flush policy `always`, each written group goes to the syncer, and the
    /// writer goes on writing the next one while the previous one's fdatasync runs.
    func drain() {
        while true {
            let items = queue.withLock { queue -> [AppendQueue.Pending] in
                let items = queue.items
                queue.items.removeAll(keepingCapacity: true)
                if items.isEmpty { queue.drainScheduled = false }
                return items
            }
            if items.isEmpty { return }
            commit(items)
        }
    }

    private func commit(_ items: [AppendQueue.Pending]) {
        let group: WrittenGroup
        do {
            group = try writeGroup(items)
        } catch {
            for item in items { item.continuation?.resume(throwing: error) }
            return
        }
        if group.awaitsSync {
            // A lone appender (this group and the last fdatasync's were one append each, nothing
            // else queued or syncing) has nothing to overlap its fdatasync with: sync it here
            // rather than wake the syncer and be woken by it.
            let syncHere = queue.withLock { queue -> Bool in
                guard items.count == 1, queue.lastGroup <= 1, queue.items.isEmpty, !queue.syncing,
                    queue.unsynced.isEmpty
                else { return false }
                queue.lastGroup = 1
                return true
            }
            if syncHere {
                do {
                    try syncAndPublish([group])
                    group.answer()
                } catch {
                    group.fail(error)
                }
            } else {
                handToSyncer(group)
            }
        } else {
            queue.withLock { $0.lastGroup = items.count }
            group.answer()
        }
    }

    /// Writes the batches of `items`; under `interval` and `never` also publishes them, under
    /// `always` leaves them for a fdatasync (`awaitsSync`). On a write failure the partition goes
    /// offline (except a full disk, whose partial write is undone and reported).
    private func writeGroup(_ items: [AppendQueue.Pending]) throws -> WrittenGroup {
        let producersBefore = writerScratch.producers
        do {
            return try writeGroupUndoingProducers(items)
        } catch {
            writerScratch.producers = producersBefore
            throw error
        }
    }

    private func writeGroupUndoingProducers(_ items: [AppendQueue.Pending]) throws -> WrittenGroup {
        let (config, startOffset, logStart) = try state.withLock { (state) throws(LogStoreError) in
            try checkUsable(state)
            return (state.config, state.logEndOffset, state.logStartOffset)
        }
        let free = try fileSystem.availableBytes(at: directory)
        if free < options.minFreeBytes {
            throw LogStoreError(
                .diskFull,
                "only \(free) bytes free on the data directory's file system, below the \(options.minFreeBytes)-byte "
                    + "watermark; appends resume when space is freed")
        }
        let now = options.clock()
        var results: [Result<AppendResult, LogStoreError>] = []
        results.reserveCapacity(items.count)
        var nextOffset = startOffset
        var touched: [Segment] = [active]
        var rolled = false
        let scratch = writerScratch
        scratch.writeBuffer.clear()
        scratch.placements.removeAll(keepingCapacity: true)
        var segment = touched[0]
        var segmentEnd = state.withLock { _ in segment.size }
        var writtenBytes = 0

        for item in items {
            // Idempotent producers' sequence checks, in offset order, before anything is placed.
            var producers = scratch.producers
            var outcome: Result<AppendResult, LogStoreError>?
            var tentative = nextOffset
            for batch in item.batches where outcome == nil {
                let decision = producers.decide(
                    producerId: batch.producerId, epoch: batch.producerEpoch, baseSequence: batch.baseSequence,
                    lastOffsetDelta: batch.lastOffsetDelta)
                switch decision {
                case .append:
                    producers.record(
                        producerId: batch.producerId, epoch: batch.producerEpoch, baseSequence: batch.baseSequence,
                        lastOffsetDelta: batch.lastOffsetDelta, firstOffset: tentative)
                    tentative += Int64(batch.lastOffsetDelta) + 1
                case .duplicate(let first, let last):
                    outcome =
                        item.batches.count == 1
                        ? .success(AppendResult(baseOffset: first, lastOffset: last, logStartOffset: logStart))
                        : .failure(LogStoreError(.duplicateSequence, "a batch repeats producer \(batch.producerId)'s sequence \(batch.baseSequence)"))
                case .refuse(let error):
                    outcome = .failure(error)
                }
            }
            if let outcome {
                results.append(outcome)
                continue
            }
            scratch.producers = producers
            let base = nextOffset
            for batch in item.batches {
                let overflow = nextOffset + Int64(batch.lastOffsetDelta) - segment.baseOffset > Int64(UInt32.max)
                let needsRoll =
                    segmentEnd > 0
                    && (segmentEnd + batch.size > config.segmentBytes || overflow
                        || state.withLock { _ in segment.indexesFull }
                        || (segment.rollReferenceTime.map { now - $0 >= config.segmentMs } ?? false))
                if needsRoll {
                    try writeBuffered(into: segment, config: config, now: now, rolled: rolled)
                    segment = try roll(at: nextOffset, config: config)
                    touched.append(segment)
                    rolled = true
                    segmentEnd = 0
                }
                let writeStart = scratch.writeBuffer.writerIndex
                var slice = item.bytes.getSlice(at: item.bytes.readerIndex + batch.position, length: batch.size)!
                scratch.writeBuffer.writeBuffer(&slice)
                scratch.writeBuffer.setInteger(nextOffset, at: writeStart)
                let lastOffset = nextOffset + Int64(batch.lastOffsetDelta)
                scratch.placements.append(
                    WriterScratch.Placement(size: batch.size, lastOffset: lastOffset, maxTimestamp: batch.maxTimestamp))
                segmentEnd += batch.size
                writtenBytes += batch.size
                nextOffset = lastOffset + 1
            }
            results.append(.success(AppendResult(baseOffset: base, lastOffset: nextOffset - 1, logStartOffset: logStart)))
        }
        try writeBuffered(into: segment, config: config, now: now, rolled: rolled)

        if let onAppend = options.onAppend {
            let appends = results.reduce(0) { count, result in
                if case .success = result { return count + 1 }
                return count
            }
            onAppend(appends, writtenBytes)
        }
        let (sizes, end) = state.withLock { state in (touched.map(\.size), state.logEndOffset) }
        let group = WrittenGroup(
            items: items, results: results, touched: touched, sizes: sizes, endOffset: end,
            awaitsSync: config.flushPolicy == .always)
        switch config.flushPolicy {
        case .always:
            break
        case .interval(let milliseconds):
            publish(CollectionOfOne(group), durable: false)
            scheduleFlush(after: milliseconds)
        case .never:
            publish(CollectionOfOne(group), durable: false)
        }
        return group
    }

    /// Writes the buffered batches at the end of `segment` with one pwrite and indexes them.
    private func writeBuffered(into segment: Segment, config: LogConfig, now: Int64, rolled: Bool) throws {
        let scratch = writerScratch
        guard scratch.writeBuffer.readableBytes > 0 else { return }
        let position = state.withLock { _ in segment.size }
        do {
            try scratch.writeBuffer.withUnsafeReadableBytes { raw in try segment.log.write(raw, at: Int64(position)) }
        } catch let error as LogStoreError where error.code == .diskFull && !rolled {
            // Nothing of this drain is acknowledged yet: cut the partial write off and report.
            do {
                try segment.log.truncate(to: Int64(position))
            } catch {
                throw goOffline(error)
            }
            throw LogStoreError(.diskFull, "the disk is full (\(error.message)); appends resume when space is freed")
        } catch {
            throw goOffline(error)
        }
        state.withLock { state in
            var at = position
            for placement in scratch.placements {
                segment.didAppend(
                    position: at, size: placement.size, lastOffset: placement.lastOffset,
                    maxTimestamp: placement.maxTimestamp, now: now, indexInterval: config.indexIntervalBytes)
                at += placement.size
            }
            state.logEndOffset = segment.nextOffset
        }
        scratch.writeBuffer.clear()
        scratch.placements.removeAll(keepingCapacity: true)
    }

    /// Makes written groups visible, in order: readable sizes, high watermark, and (when durable)
    /// the recovery point. Then wakes waiting readers.
    func publish(_ groups: some Sequence<WrittenGroup>, durable: Bool) {
        let highWatermark = state.withLock { state -> Int64 in
            for group in groups {
                for (segment, size) in zip(group.touched, group.sizes) {
                    segment.readableSize = max(segment.readableSize, size)
                }
                state.highWatermark = max(state.highWatermark, group.endOffset)
                if durable { state.recoveryPoint = max(state.recoveryPoint, group.endOffset) }
            }
            return state.highWatermark
        }
        waiters.advance(to: highWatermark)
    }

    /// Under `interval`, fsyncs the active segment once the interval has passed.
    private func scheduleFlush(after milliseconds: Int64) {
        let schedule = queue.withLock { queue -> Bool in
            if queue.flushScheduled { return false }
            queue.flushScheduled = true
            return true
        }
        guard schedule else { return }
        writerQueue.asyncAfter(deadline: DispatchTime.now() + .milliseconds(Int(milliseconds))) {
            self.queue.withLock { $0.flushScheduled = false }
            self.flushActiveSegment()
        }
    }

    /// fsyncs the active segment and advances the recovery point (writer queue only).
    func flushActiveSegment() {
        let (segment, end, usable) = state.withLock { state in
            (state.segments.last!, state.logEndOffset, !state.closed && state.offlineError == nil)
        }
        guard usable else { return }
        do {
            try segment.log.sync()
            state.withLock { $0.recoveryPoint = max($0.recoveryPoint, end) }
        } catch {
            _ = goOffline(error)
        }
    }

    /// Writes and fsyncs everything queued, whatever the flush policy; returns when done.
    public func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            runOnWriter {
                self.drain()
                self.awaitSyncs()
                self.flushActiveSegment()
                if let error = self.state.withLock({ state -> LogStoreError? in
                    if state.closed { return LogStoreError(.closed, "\(self.topic)-\(self.partition) is closed") }
                    return state.offlineError
                }) {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume()
                }
            }
        }
    }
}
