import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import Synchronization

/// One partition's log: an ordered list of segments, a single writer that group-commits appends,
/// and readers that see everything below the high watermark.
///
/// Appends are validated on the caller's task, then queued; the writer (a serial dispatch queue,
/// so blocking I/O stays off the concurrency pool) writes every queued batch with one `pwrite`.
/// Under the flush policy `always` the syncer (another serial queue) then issues one `fdatasync`
/// for everything written so far and answers it, while the writer goes on writing.
public final class Log: Sendable {
    public let topic: String
    public let partition: Int
    public let directory: String
    let fileSystem: any FileSystem
    let options: LogOptions
    let logger: Logger

    let state: Mutex<State>
    let queue: Mutex<AppendQueue>
    let waiters: HighWatermarkWaiters
    let writerQueue: DispatchQueue
    /// Seals rolled segments behind the writer (see `Log+Roll.swift`).
    let sealQueue: DispatchQueue
    /// Syncs written groups behind the writer (flush policy `always`; see `Log+Sync.swift`).
    let syncQueue: DispatchQueue
    /// The syncer's group-commit linger state; touched only on `syncQueue`.
    let lingerPolicy = LingerPolicy()
    /// Serializes writing the checkpoint and producer-state files (writer and seal queue).
    let checkpointLock = Mutex(())
    /// How long the last group-commit fdatasync took (see `callerMayWrite`).
    let lastSyncNanoseconds = Atomic<Int64>(0)
    /// Writer-queue work other than appends, queued or running (see ``runOnWriter(_:)``).
    let otherWriterWork = Atomic<Int>(0)
    /// Writer-only scratch space; touched only on `writerQueue`.
    let writerScratch: WriterScratch
    /// True while a ``compact(_:progress:)`` runs (one at a time per log).
    let compactionRunning = Mutex(false)

    struct State {
        var config: LogConfig
        /// Ordered by base offset; the last one is active. Never empty while open.
        var segments: [Segment]
        var logStartOffset: Int64
        /// The next offset to assign (the written end).
        var logEndOffset: Int64
        var highWatermark: Int64
        /// Everything below this offset has been fsynced.
        var recoveryPoint: Int64
        var checkpointed: Checkpoint
        /// Start of the oldest closed segment whose indexes are not sealed yet (nil: none);
        /// checkpoints stop there.
        var unsealedFrom: Int64?
        /// Rolled segments waiting for the seal queue.
        var pendingSeals = 0
        /// The clean/dirty boundary of a compacted log and when earlier boundaries were reached.
        var cleaner = CleanerCheckpoint()
        var offlineError: LogStoreError?
        var closed = false
    }

    var active: Segment { state.withLock { $0.segments.last! } }

    init(
        topic: String, partition: Int, directory: String, fileSystem: any FileSystem, options: LogOptions,
        state: State
    ) {
        self.topic = topic
        self.partition = partition
        self.directory = directory
        self.fileSystem = fileSystem
        self.options = options
        var logger = options.logger
        logger[metadataKey: "partition"] = "\(topic)-\(partition)"
        self.logger = logger
        self.state = Mutex(state)
        self.queue = Mutex(AppendQueue())
        self.waiters = HighWatermarkWaiters(highWatermark: state.highWatermark)
        self.writerQueue = DispatchQueue(label: "hooklog.log.\(topic)-\(partition)")
        self.sealQueue = DispatchQueue(label: "hooklog.log.\(topic)-\(partition).seal")
        self.syncQueue = DispatchQueue(label: "hooklog.log.\(topic)-\(partition).sync")
        self.writerScratch = WriterScratch()
    }

    /// Runs `work` on the writer queue once every group already written is synced (so it sees
    /// no append half done). While it is queued or running, a caller that may write its own
    /// append (`append(callerMayWrite:)`) leaves the append to the writer rather than block
    /// behind it.
    func runOnWriter(_ work: @escaping @Sendable () -> Void) {
        otherWriterWork.add(1, ordering: .relaxed)
        writerQueue.async {
            self.awaitSyncs()
            work()
            self.otherWriterWork.subtract(1, ordering: .relaxed)
        }
    }

    /// ``runOnWriter(_:)``, waiting for the result.
    func runOnWriterAndWait<T>(_ work: () throws -> T) rethrows -> T {
        otherWriterWork.add(1, ordering: .relaxed)
        defer { otherWriterWork.subtract(1, ordering: .relaxed) }
        return try writerQueue.sync {
            self.awaitSyncs()
            return try work()
        }
    }

    // MARK: - Observing

    /// The offset consumers may read up to (exclusive): durable under `always`, written otherwise.
    public var highWatermark: Int64 { state.withLock { $0.highWatermark } }
    /// The first offset still in the log.
    public var logStartOffset: Int64 { state.withLock { $0.logStartOffset } }
    /// The next offset to be assigned.
    public var logEndOffset: Int64 { state.withLock { $0.logEndOffset } }
    public var config: LogConfig { state.withLock { $0.config } }
    /// Why the partition is offline, if it is.
    public var offlineError: LogStoreError? { state.withLock { $0.offlineError } }

    /// A summary of the log's segments, offsets, size and (for compacted logs) how dirty it is.
    public var info: LogInfo {
        state.withLock { state in
            // Dirty bytes: closed segments past the cleaner checkpoint (for the segment holding it,
            // from the index entry at or before it, so slightly more rather than less).
            var cleanable = 0
            var dirty = 0
            let cleanerOffset = max(state.cleaner.cleanerOffset, state.logStartOffset)
            for segment in state.segments.dropLast() where segment.nextOffset > state.logStartOffset {
                cleanable += segment.size
                if segment.baseOffset >= cleanerOffset {
                    dirty += segment.size
                } else if segment.nextOffset > cleanerOffset {
                    dirty += segment.size - segment.offsetIndex.lookup(cleanerOffset)
                }
            }
            return LogInfo(
                topic: topic, partition: partition, logStartOffset: state.logStartOffset,
                logEndOffset: state.logEndOffset, highWatermark: state.highWatermark,
                recoveryPoint: state.recoveryPoint, sizeInBytes: state.segments.reduce(0) { $0 + $1.size },
                segments: state.segments.map {
                    LogInfo.SegmentInfo(
                        baseOffset: $0.baseOffset, nextOffset: $0.nextOffset, sizeInBytes: $0.size,
                        maxTimestamp: $0.maxTimestamp)
                },
                offline: state.offlineError != nil, compacted: state.config.isCompacted,
                cleanerOffset: cleanerOffset, cleanableBytes: cleanable, dirtyBytes: dirty)
        }
    }

    /// Waits until the high watermark is above `offset` (data at `offset` is readable), the
    /// timeout passes, the task is cancelled, or the log closes. Returns the high watermark.
    @discardableResult
    public func waitForHighWatermark(beyond offset: Int64, timeout: Duration) async -> Int64 {
        await waiters.wait(beyond: offset, timeout: timeout)
        return highWatermark
    }

    /// Fails if the log is closed or offline.
    func checkUsable(_ state: State) throws(LogStoreError) {
        if state.closed { throw LogStoreError(.closed, "\(topic)-\(partition) is closed") }
        if let error = state.offlineError { throw error }
    }

    /// Takes the partition offline after a failed write or fsync: the kernel may have dropped
    /// dirty pages, so nothing is retried; the next open recovers from the files.
    func goOffline(_ cause: any Error) -> LogStoreError {
        let error = LogStoreError(
            .offline,
            "\(topic)-\(partition) is offline after a storage failure (\(cause)); restart the hub to recover it")
        let first = state.withLock { state -> Bool in
            if state.offlineError != nil { return false }
            state.offlineError = error
            return true
        }
        if first { logger.error("partition offline", metadata: ["error": "\(cause)"]) }
        waiters.close()
        return error
    }
}

/// Settings shared by every log of a ``LogManager``.
public struct LogOptions: Sendable {
    /// Appends are refused while the file system has less free space than this.
    public var minFreeBytes: Int64 = 64 << 20
    /// Milliseconds since the epoch (injectable for tests).
    public var clock: @Sendable () -> Int64 = { wallClockMilliseconds() }
    public var logger = Logger(label: "hooklog.logstore")
    /// Called by a log's writer after each write group: how many appends succeeded and how many
    /// bytes were written (for metrics; keep it cheap, it runs on the writer).
    public var onAppend: (@Sendable (_ appends: Int, _ bytes: Int) -> Void)?
    /// Called after each group-commit fdatasync with how long it took.
    public var onFsync: (@Sendable (Duration) -> Void)?
    /// After an fdatasync slower than this, appends go through the writer even when their caller
    /// may write them itself (`Log.append(callerMayWrite:)`), until fsyncs are quick again: a
    /// slow disk then holds up the writer, not the caller's other work (an event loop's other
    /// connections). 2 ms is several times a typical fdatasync on the machines measured.
    public var callerWriteSyncLimit: Duration = .milliseconds(2)

    public init() {}
}

/// A point-in-time summary of a log.
public struct LogInfo: Sendable, Hashable {
    public struct SegmentInfo: Sendable, Hashable {
        public var baseOffset: Int64
        public var nextOffset: Int64
        public var sizeInBytes: Int
        public var maxTimestamp: Int64
    }
    public var topic: String
    public var partition: Int
    public var logStartOffset: Int64
    public var logEndOffset: Int64
    public var highWatermark: Int64
    public var recoveryPoint: Int64
    /// Bytes of every segment, the active one included.
    public var sizeInBytes: Int
    public var segments: [SegmentInfo]
    public var offline: Bool
    /// Whether `cleanup.policy` includes `compact`.
    public var compacted: Bool
    /// The cleaner checkpoint: offsets below it are clean (compacted), those above dirty. For a
    /// log never compacted it is the log start offset.
    public var cleanerOffset: Int64
    /// Bytes of the closed segments (the part compaction can rewrite).
    public var cleanableBytes: Int
    /// Bytes of closed segments past the cleaner checkpoint.
    public var dirtyBytes: Int

    public var segmentCount: Int { segments.count }
    /// dirty bytes / closed bytes (0 for a log without closed segments), as Kafka's
    /// `min.cleanable.dirty.ratio` compares it.
    public var dirtyRatio: Double { cleanableBytes == 0 ? 0 : Double(dirtyBytes) / Double(cleanableBytes) }
}

/// Milliseconds since the Unix epoch from the system clock.
public func wallClockMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}
