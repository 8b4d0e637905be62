import Foundation
import LogStore
import Logging
import NIOPosix
import Synchronization

/// Tails the log and POSTs each matching event to every active subscription, at least once:
/// one ``DeliveryWindow`` per subscription, a shared per-origin limit, retries on the
/// subscription's schedule, dead letters, and cursors committed to `__cursors` in batches and
/// on shutdown.
public final class Dispatcher: Sendable {
    /// Server-wide delivery settings (`hooklog serve` options).
    public struct Configuration: Sendable {
        /// The retry schedule of subscriptions without their own (`--retry-schedule`).
        public var retrySchedule = RetrySchedule.default
        /// Concurrent requests per origin, across subscriptions.
        public var originLimit = 64
        /// How far a window reads ahead of its cursor, per partition.
        public var maxPending = 10_000
        /// ...and how many bytes of event data that may hold.
        public var maxPendingBytes = 64 << 20
        /// Bytes per log read.
        public var readBytes = 1 << 20
        /// How often changed cursors (and attempt records) are committed: what a crash can
        /// deliver twice is what finished since the last commit.
        public var commitInterval: Duration = .milliseconds(250)
        /// Consecutive failed attempts after which a subscription is `failing`.
        public var failingAfterFailures = 5
        /// How long a subscription may stay `failing` before it is `disabled`.
        public var disableAfter: Duration = .seconds(5 * 86_400)
        /// CIDRs callbacks may reach although the SSRF guard refuses them otherwise.
        public var allowed: [CIDRBlock] = []
        /// How host names are looked up at connect time (by default on a thread pool of the
        /// Dispatcher's own, so slow lookups of dead names never hold up anything else).
        public var resolver: any HostResolver = SystemHostResolver(threadPool: Dispatcher.lookupPool)
        /// How long a checked lookup is reused before the name is resolved and checked again.
        public var resolutionTTL: Duration = .seconds(30)
        /// Connect and total timeouts of one attempt.
        public var connectTimeout: Duration = .seconds(5)
        public var requestTimeout: Duration = .seconds(30)
        /// How long in-flight requests may finish when a subscription is paused or disabled
        /// (their outcomes count), and when the server shuts down.
        public var pauseDrain: Duration = .seconds(30)
        public var shutdownDrain: Duration = .seconds(5)
        /// Called after every attempt with its outcome (`delivered`, `retrying`, `deadLettered`,
        /// `disabled`) and duration, for metrics.
        public var onAttempt: (@Sendable (_ outcome: String, _ duration: Duration) -> Void)?

        public init() {}
    }

    /// Internal topics: one record per attempt; copies of dead-lettered events. The ordinary topic
    /// of subscription state changes.
    public static let attemptsTopic = DeliveryRecorder.attemptsTopic
    public static let deadLettersTopic = DeliveryRecorder.deadLettersTopic
    public static let operationalTopic = DeliveryRecorder.operationalTopic

    /// Threads for the Dispatcher's blocking `getaddrinfo` calls.
    public static let lookupPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    private let context: DispatchContext
    private let cursors: SubscriptionCursors
    private let windows = Mutex<[String: DeliveryWindow]>([:])
    /// Windows of paused or disabled subscriptions letting their requests finish; a window for
    /// the same subscription opens only after its predecessor closed.
    private let closing = Mutex<[String: Task<Void, Never>]>([:])
    private let changes: AsyncStream<SubscriptionChange>.Continuation
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let changeStream: AsyncStream<SubscriptionChange>
    private let logger: Logger

    public init(
        logs: LogManager, registry: SubscriptionRegistry, cursors: SubscriptionCursors, configuration: Configuration,
        logger: Logger
    ) throws {
        let callbackGuard = CallbackGuard(allowed: configuration.allowed, resolver: configuration.resolver)
        var clientSettings = CallbackClient.Settings()
        clientSettings.connectTimeout = configuration.connectTimeout
        clientSettings.totalTimeout = configuration.requestTimeout
        clientSettings.connectionsPerOrigin = configuration.originLimit
        clientSettings.resolutionTTL = configuration.resolutionTTL
        let client = CallbackClient(
            settings: clientSettings, callbackGuard: callbackGuard, resolver: configuration.resolver, logger: logger)
        context = DispatchContext(
            logs: logs, client: client, origins: OriginLimiter(limit: configuration.originLimit),
            recorder: try DeliveryRecorder(logs: logs, logger: logger), registry: registry, settings: configuration,
            logger: logger)
        self.cursors = cursors
        self.logger = logger
        (changeStream, changes) = AsyncStream.makeStream(of: SubscriptionChange.self)
    }

    /// Starts a window for every active or failing subscription, then follows subscription
    /// changes and commits cursors periodically.
    public func start() async {
        let continuation = changes
        context.registry.observe { continuation.yield($0) }
        for subscription in context.registry.all { await open(subscription) }
        let stream = changeStream
        let interval = context.settings.commitInterval
        let recorder = context.recorder
        let follower = Task {
            for await change in stream { await self.apply(change) }
        }
        let committer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await self.commitChanged()
                await recorder.flush()
            }
        }
        tasks.withLock { $0 = [follower, committer] }
    }

    /// Stops every window (in-flight attempts are abandoned and retried after the next start)
    /// and commits the cursors.
    public func shutdown() async {
        changes.finish()
        let running = tasks.withLock { $0 }
        for task in running { task.cancel() }
        for task in running { await task.value }
        let all = windows.withLock { windows -> [DeliveryWindow] in
            defer { windows.removeAll() }
            return Array(windows.values)
        }
        let drain = context.settings.shutdownDrain
        await withTaskGroup(of: Void.self) { group in
            for window in all { group.addTask { await self.close(window, drain: drain) } }
        }
        for task in closing.withLock({ Array($0.values) }) { await task.value }
        await context.recorder.flush()
        await context.client.shutdown()
    }

    /// Delivery counts of a subscription with a running window.
    public func stats(subscription id: String) async -> DeliveryStats? {
        guard let window = windows.withLock({ $0[id] }) else { return nil }
        return await window.currentStats()
    }

    /// Moves a subscription's cursors to `offsets` (per partition; partitions not named keep
    /// their cursors), restarting its window so events from there are delivered again.
    public func replay(subscription id: String, offsets: [Int: Int64]) async throws {
        let window = windows.withLock { $0.removeValue(forKey: id) }
        let live = await window?.stop(drain: .seconds(1))
        guard let subscription = context.registry.subscription(id: id) else { return }
        let now = wallClockMilliseconds()
        var current = live ?? cursors.cursors(subscription: id)
        for (partition, offset) in offsets { current[partition] = SubscriptionCursor(offset: offset, updatedAt: now) }
        try await cursors.commit(subscription: id, topic: subscription.topic, current)
        await open(subscription)
    }

    /// Delivers the subscription's dead letters again: those recorded since the last redrive
    /// (all of them the first time), up to now. Redriven ones that fail again are dead-lettered
    /// again (with their original coordinates), and a later redrive covers them.
    /// - Returns: the range of `__deadletters` offsets the redrive covers.
    public func redrive(subscription id: String) async throws -> Range<Int64> {
        guard let subscription = context.registry.subscription(id: id) else {
            throw DispatcherError(.subscriptionNotFound, "no subscription \(id)")
        }
        let window = windows.withLock { $0.removeValue(forKey: id) }
        let live = await window?.stop(drain: .seconds(1))
        var current = live ?? cursors.cursors(subscription: id)
        let deadLetters = context.recorder.deadLetters
        let previous = current[DeliveryWindow.deadLetterPartition]
        let start = max(previous?.offset ?? deadLetters.logStartOffset, deadLetters.logStartOffset)
        let end = deadLetters.highWatermark
        var cursor = previous ?? SubscriptionCursor(offset: start, updatedAt: 0)
        if cursor.offset < start { cursor = SubscriptionCursor(offset: start, updatedAt: 0) }
        cursor.limit = end
        cursor.updatedAt = wallClockMilliseconds()
        current[DeliveryWindow.deadLetterPartition] = cursor
        try await cursors.commit(subscription: id, topic: subscription.topic, current)
        await open(subscription)
        return start..<end
    }

    // MARK: Windows

    private func apply(_ change: SubscriptionChange) async {
        switch change {
        case .created(let subscription):
            await open(subscription)
        case .updated(_, let after):
            let window = windows.withLock { $0[after.id] }
            let runs = after.state == .active || after.state == .failing
            if let window, runs {
                await window.update(after)
            } else if let window {
                windows.withLock { _ = $0.removeValue(forKey: after.id) }
                let drain = context.settings.pauseDrain
                let task = Task { await self.close(window, drain: drain) }
                closing.withLock { $0[after.id] = task }
            } else if runs {
                await open(after)
            }
        case .deleted(let subscription):
            let window = windows.withLock { $0.removeValue(forKey: subscription.id) }
            if let window { _ = await window.stop() }
        }
    }

    private func open(_ subscription: Subscription) async {
        if let previous = closing.withLock({ $0.removeValue(forKey: subscription.id) }) { await previous.value }
        guard subscription.state == .active || subscription.state == .failing,
            windows.withLock({ $0[subscription.id] == nil })
        else { return }
        do {
            let window = try DeliveryWindow(
                subscription: subscription, cursors: cursors.cursors(subscription: subscription.id), context: context)
            windows.withLock { $0[subscription.id] = window }
            await window.start()
        } catch {
            logger.error(
                "cannot start deliveries", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
        }
    }

    private func close(_ window: DeliveryWindow, drain: Duration) async {
        let final = await window.stop(drain: drain)
        let subscription = await window.subscription
        guard context.registry.subscription(id: subscription.id) != nil else { return }
        do {
            try await cursors.commit(subscription: subscription.id, topic: subscription.topic, final)
        } catch {
            logger.warning("cannot commit cursors", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
        }
    }

    private func commitChanged() async {
        for window in windows.withLock({ Array($0.values) }) {
            guard let changed = await window.cursorsIfChanged() else { continue }
            let subscription = await window.subscription
            // Deleted meanwhile: its cursors were tombstoned and must not come back.
            guard context.registry.subscription(id: subscription.id) != nil else { continue }
            do {
                try await cursors.commit(subscription: subscription.id, topic: subscription.topic, changed)
            } catch {
                logger.warning(
                    "cannot commit cursors", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
            }
        }
    }
}
