import Logging
import Synchronization

/// The background service that keeps a ``LogManager``'s logs in shape: every
/// ``Configuration/compactionInterval`` it compacts the dirtiest log whose dirty ratio has
/// reached its topic's `min.cleanable.dirty.ratio` (one pass, so a huge log cannot hold the
/// cleaner), and every ``Configuration/retentionInterval`` it applies retention to every log.
/// Both share one ``IOThrottle``, so together they stay under the I/O cap and leave the disk to
/// appends. Internal topics (`__cursors`, `__subscriptions`, `__attempts`, …) are ordinary logs
/// here: compacted or expired by their own config.
///
/// ```swift
/// let cleaner = LogCleaner(manager: manager)
/// cleaner.start()
/// …
/// await cleaner.stop()   // before manager.close()
/// ```
public final class LogCleaner: Sendable {
    public struct Configuration: Sendable {
        /// How often to look for a log to compact.
        public var compactionInterval: Duration = .seconds(15)
        /// How often to apply retention to every log.
        public var retentionInterval: Duration = .seconds(300)
        /// Cap on the cleaner's and retention's I/O together, in bytes per second (nil: none).
        public var ioBytesPerSecond: Int64? = 64 << 20
        /// Memory for one compaction pass's key map (``CompactionOptions/mapBytes``).
        public var mapBytes: Int = 64 << 20
        /// Compaction stops rather than let free space fall below this (the appends' watermark).
        public var minFreeBytes: Int64 = 64 << 20
        /// Retention charges this many bytes of I/O per deleted segment (unlinking is metadata
        /// work, not a copy, so the charge only paces mass deletions).
        public var retentionBytesPerSegment: Int = 1 << 20

        public init() {}
    }

    /// Counters for metrics; they only grow.
    public struct Metrics: Sendable, Hashable {
        /// Compaction passes that ran (including ones the log's changes voided).
        public var compactionRuns = 0
        public var compactionFailures = 0
        /// Bytes the cleaner read and wrote.
        public var bytesScanned: Int64 = 0
        public var bytesWritten: Int64 = 0
        /// Bytes compaction freed (size before − size after).
        public var bytesReclaimed: Int64 = 0
        public var recordsRemoved: Int64 = 0
        public var tombstonesDropped: Int64 = 0
        public var retentionRuns = 0
        /// Segments deleted by retention.
        public var segmentsDeleted = 0
        public var retentionFailures = 0
    }

    public let configuration: Configuration
    private let manager: LogManager
    private let logger: Logger
    private let throttle: IOThrottle?
    private let counters = Mutex(Metrics())
    private let tasks = Mutex<[Task<Void, Never>]>([])

    public init(manager: LogManager, configuration: Configuration = Configuration(), logger: Logger? = nil) {
        self.manager = manager
        self.configuration = configuration
        self.logger = logger ?? manager.configuration.options.logger
        self.throttle = configuration.ioBytesPerSecond.map { IOThrottle(bytesPerSecond: $0) }
    }

    /// A snapshot of the counters.
    public var metrics: Metrics { counters.withLock { $0 } }

    /// Starts the two periodic tasks (a second call does nothing).
    public func start() {
        tasks.withLock { tasks in
            guard tasks.isEmpty else { return }
            let compactionInterval = configuration.compactionInterval
            let retentionInterval = configuration.retentionInterval
            tasks.append(
                Task { [self] in
                    while (try? await Task.sleep(for: compactionInterval)) != nil {
                        await compactDirtiestLog()
                    }
                })
            tasks.append(
                Task { [self] in
                    while (try? await Task.sleep(for: retentionInterval)) != nil {
                        await enforceRetention()
                    }
                })
        }
    }

    /// Stops the tasks; a compaction under way is abandoned (its partial output is deleted and
    /// the log stays as it was). Returns once nothing runs.
    public func stop() async {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    /// The compacted log most worth cleaning now: the highest dirty ratio at or above its
    /// topic's `min.cleanable.dirty.ratio`, or nil.
    public func dirtiestLog() -> Log? {
        var best: (log: Log, ratio: Double)?
        for log in manager.allLogs {
            let info = log.info
            guard info.compacted, !info.offline, info.dirtyBytes > 0 else { continue }
            let ratio = info.dirtyRatio
            guard ratio >= log.config.minCleanableDirtyRatio, ratio > (best?.ratio ?? -1) else { continue }
            best = (log, ratio)
        }
        return best?.log
    }

    /// One compaction pass of the dirtiest log (see ``dirtiestLog()``); nil when none qualifies
    /// or the pass failed (logged and counted).
    @discardableResult
    public func compactDirtiestLog() async -> CompactionReport? {
        guard let log = dirtiestLog() else { return nil }
        do {
            return try await compact(log, maxPasses: 1)
        } catch {
            if !(error is CancellationError) {
                logger.warning(
                    "compaction failed", metadata: ["partition": "\(log.topic)-\(log.partition)", "error": "\(error)"])
            }
            return nil
        }
    }

    /// Compacts the partitions of `topic` now (all passes), as `POST /admin/topics/{topic}/compact`
    /// does; shares the throttle and the counters with the background work.
    /// - Throws: what ``LogManager/compact(topic:partition:options:progress:)`` throws.
    public func compact(topic: String, partition: Int? = nil, dryRun: Bool = false) async throws -> [CompactionReport] {
        guard let metadata = manager.metadata(of: topic) else {
            throw LogStoreError(.unknownTopicOrPartition, "topic '\(topic)' does not exist")
        }
        var reports: [CompactionReport] = []
        for partition in partition.map({ [$0] }) ?? Array(0..<metadata.partitions) {
            reports.append(try await compact(try manager.log(topic: topic, partition: partition), dryRun: dryRun))
        }
        return reports
    }

    private func compact(_ log: Log, maxPasses: Int? = nil, dryRun: Bool = false) async throws -> CompactionReport {
        let options = CompactionOptions(
            mapBytes: configuration.mapBytes, maxPasses: maxPasses, dryRun: dryRun, throttle: throttle,
            minFreeBytes: configuration.minFreeBytes)
        do {
            let report = try await log.compact(options)
            if !dryRun {
                counters.withLock { metrics in
                    metrics.compactionRuns += report.passes
                    metrics.bytesScanned += report.bytesScanned
                    metrics.bytesWritten += report.bytesWritten
                    metrics.bytesReclaimed += max(0, report.bytesBefore - report.bytesAfter)
                    metrics.recordsRemoved += report.recordsRemoved
                    metrics.tombstonesDropped += report.tombstonesDropped
                }
            }
            return report
        } catch {
            if !(error is CancellationError) { counters.withLock { $0.compactionFailures += 1 } }
            throw error
        }
    }

    /// Applies retention to every log now; returns the segments deleted.
    @discardableResult
    public func enforceRetention() async -> Int {
        var deleted = 0
        for log in manager.allLogs {
            if Task.isCancelled { break }
            do {
                let count = try await log.enforceRetention()
                deleted += count
                if count > 0 { try await throttle?.consume(count * configuration.retentionBytesPerSegment) }
            } catch is CancellationError {
                break
            } catch {
                counters.withLock { $0.retentionFailures += 1 }
                logger.warning(
                    "retention failed", metadata: ["partition": "\(log.topic)-\(log.partition)", "error": "\(error)"])
            }
        }
        counters.withLock { metrics in
            metrics.retentionRuns += 1
            metrics.segmentsDeleted += deleted
        }
        return deleted
    }
}
