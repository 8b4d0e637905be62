import Foundation
import LogStore
import Logging
import NIOCore
import NIOHTTP1

/// One subscription's delivery window over all its partitions: reads from the cursor, tails the
/// high watermark, filters by event type, and keeps at most `maxInFlight` requests open (one
/// while the subscription is failing), in the order the subscription asks for. Finished
/// deliveries advance the cursor; failures wait for their next retry without holding a slot.
actor DeliveryWindow {
    private(set) var subscription: Subscription
    private let context: DispatchContext
    private var partitions: [Int: PartitionDeliveries] = [:]
    private var signer: WebhookSigner
    private var callback: CallbackURL?
    private var inFlight = 0
    private var readers: [Task<Void, Never>] = []
    private var attempts: [Int: Task<Void, Never>] = [:]
    private var nextAttemptID = 0
    private var timer: Task<Void, Never>?
    private var timerDue: Int64?
    private var capacityWaiters: [CheckedContinuation<Void, Never>] = []
    private var stopped = false
    /// Stopping: no new reads or attempts; in-flight ones may still finish.
    private var draining = false
    private var dirty = true
    private var rotation = 0
    private var consecutiveFailures = 0
    private var failingSince: Int64?
    /// While failing: no probe starts before this (one probe per backoff step).
    private var probeNotBefore: Int64 = 0
    private(set) var stats = DeliveryStats()

    init(subscription: Subscription, cursors: [Int: SubscriptionCursor], context: DispatchContext) throws {
        self.subscription = subscription
        self.context = context
        signer = try Self.signer(for: subscription)
        callback = try? CallbackURL(subscription.url)
        let partitionCount = context.logs.metadata(of: subscription.topic)?.partitions ?? 0
        for partition in 0..<partitionCount {
            let cursor =
                cursors[partition]
                ?? SubscriptionCursor(offset: subscription.startOffsets[partition] ?? 0, updatedAt: 0)
            partitions[partition] = PartitionDeliveries(partition: partition, cursor: cursor)
        }
        if let redrive = cursors[Self.deadLetterPartition] {
            partitions[Self.deadLetterPartition] = PartitionDeliveries(partition: Self.deadLetterPartition, cursor: redrive)
        }
        if subscription.state == .failing { failingSince = wallClockMilliseconds() }
    }

    /// The pseudo-partition of a dead-letter redrive: it reads `__deadletters` (up to the
    /// redrive's limit) for this subscription's dead letters and delivers them again.
    static let deadLetterPartition = -1

    private static func signer(for subscription: Subscription) throws -> WebhookSigner {
        let secrets = try subscription.signingSecrets(at: Date()).map { try SigningSecret($0) }
        return WebhookSigner(secrets: secrets)
    }

    // MARK: Lifecycle

    /// Starts a reader per partition.
    func start() {
        for partition in partitions.keys.sorted() {
            readers.append(Task { await self.readLoop(partition: partition) })
        }
    }

    /// Stops reading and starting deliveries, lets in-flight attempts finish for up to `drain`
    /// (their outcomes count), then abandons the rest (they are retried after a restart, as the
    /// cursor was never moved past them). Returns the cursors to commit.
    func stop(drain: Duration = .zero) async -> [Int: SubscriptionCursor] {
        draining = true
        for reader in readers { reader.cancel() }
        timer?.cancel()
        for waiter in capacityWaiters { waiter.resume() }
        capacityWaiters.removeAll()
        let deadline = ContinuousClock.now + drain
        while !attempts.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        stopped = true
        for task in attempts.values { task.cancel() }
        for reader in readers { await reader.value }
        while let (id, task) = attempts.first {
            await task.value
            attempts.removeValue(forKey: id)
        }
        return cursors()
    }

    /// Applies changed settings (URL, headers, secret, limits, filters, ordering, state).
    func update(_ subscription: Subscription) {
        let before = self.subscription
        self.subscription = subscription
        if let signer = try? Self.signer(for: subscription) { self.signer = signer }
        callback = try? CallbackURL(subscription.url)
        if subscription.state == .failing && before.state != .failing { failingSince = failingSince ?? wallClockMilliseconds() }
        if subscription.state == .active {
            failingSince = nil
            consecutiveFailures = 0
        }
        schedule()
    }

    /// The cursors to commit, or nil when nothing changed since the last call.
    func cursorsIfChanged() -> [Int: SubscriptionCursor]? {
        guard dirty else { return nil }
        dirty = false
        return cursors()
    }

    private func cursors() -> [Int: SubscriptionCursor] {
        let now = wallClockMilliseconds()
        return partitions.mapValues { $0.snapshot(now: now) }
    }

    /// Current counts, with in-flight and pending-retry numbers filled in.
    func currentStats() -> DeliveryStats {
        var stats = self.stats
        stats.inFlight = inFlight
        stats.retriesPending = partitions.values.reduce(0) { $0 + $1.waitingCount }
        return stats
    }

    // MARK: Reading

    private func readLoop(partition: Int) async {
        let redrive = partition == Self.deadLetterPartition
        let source = redrive ? context.recorder.deadLetters : try? context.logs.log(topic: subscription.topic, partition: partition)
        guard let log = source else { return }
        while !Task.isCancelled && !stopped && !draining {
            await waitForCapacity(partition: partition)
            if Task.isCancelled || stopped || draining { return }
            guard let state = partitions[partition], !state.readAll else { return }
            let from = state.nextRead
            let highWatermark = min(log.highWatermark, state.limit ?? .max)
            do {
                if from >= highWatermark {
                    if from > highWatermark {
                        // The log lost its tail (an unclean shutdown truncated it): resume at its end.
                        partitions[partition]?.skip(to: highWatermark)
                    }
                    // Throws `closed` for a deleted topic (the wait below would return at once).
                    _ = try log.read(from: highWatermark, maxBytes: 1)
                    await log.waitForHighWatermark(beyond: highWatermark, timeout: .seconds(5))
                    continue
                }
                let read = try log.read(from: from, maxBytes: context.settings.readBytes)
                let records = try read.records.withUnsafeReadableBytes { try RecordBatch.decodeAll($0) }
                var advanced = false
                for record in records where record.offset >= from && record.offset < min(read.highWatermark, highWatermark) {
                    let accepted: Bool
                    if redrive {
                        accepted = WebhookRequest.header("hooklog_subscription", of: record) == subscription.id
                    } else {
                        accepted = subscription.accepts(eventType: WebhookRequest.header("ce_type", of: record))
                    }
                    partitions[partition]?.add(record, accepted: accepted)
                    advanced = true
                }
                if !advanced {
                    // Nothing at or after `from` in what was read (a compacted gap): move on.
                    partitions[partition]?.skip(to: (records.last?.offset ?? from) + 1)
                }
                dirty = true
                schedule()
            } catch let error as LogStoreError where error.code == .closed {
                // The topic was deleted (or the hub is closing): nothing more to read.
                context.logger.info(
                    "dispatcher stops reading a closed log", metadata: ["partition": "\(subscription.topic)-\(partition)"])
                return
            } catch let error as LogStoreError where error.code == .offsetOutOfRange {
                // Retention deleted what the cursor pointed at: those events are gone.
                partitions[partition]?.skip(to: log.logStartOffset)
                dirty = true
            } catch {
                context.logger.warning(
                    "dispatcher cannot read", metadata: ["partition": "\(subscription.topic)-\(partition)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Waits while the partition holds `maxPending` deliveries (or too many bytes).
    private func waitForCapacity(partition: Int) async {
        while !stopped, !draining, let state = partitions[partition],
            state.pending.count >= context.settings.maxPending || state.pendingBytes >= context.settings.maxPendingBytes
        {
            await withCheckedContinuation { capacityWaiters.append($0) }
        }
    }

    // MARK: Delivering

    /// Starts every delivery that may start now, and arms the timer for the next due retry.
    private func schedule() {
        guard !stopped, !draining, subscription.state == .active || subscription.state == .failing, let callback
        else { return }
        let failing = subscription.state == .failing
        let limit = failing ? 1 : subscription.maxInFlight
        let now = wallClockMilliseconds()
        if failing && now < probeNotBefore {
            armTimer(at: probeNotBefore)
            return
        }
        let order = partitions.keys.sorted()
        guard !order.isEmpty else { return }
        rotation = (rotation + 1) % order.count
        for index in 0..<order.count where inFlight < limit {
            let partition = order[(index + rotation) % order.count]
            guard let state = partitions[partition] else { continue }
            for offset in state.startable(ordering: subscription.ordering, now: now, limit: limit - inFlight) {
                guard let delivery = partitions[partition]?.markInFlight(offset) else { continue }
                launch(delivery, to: callback)
            }
        }
        armTimer()
    }

    private func armTimer(at floor: Int64? = nil) {
        let now = wallClockMilliseconds()
        guard var due = partitions.values.compactMap({ $0.nextDue(after: now) }).min() ?? floor else { return }
        if let floor { due = max(due, floor) }
        if let timerDue, timerDue <= due, timer != nil { return }
        timer?.cancel()
        timerDue = due
        timer = Task {
            let wait = max(0, due - wallClockMilliseconds())
            try? await Task.sleep(for: .milliseconds(wait))
            guard !Task.isCancelled else { return }
            self.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDue = nil
        schedule()
    }

    private func launch(_ delivery: PendingDelivery, to callback: CallbackURL) {
        inFlight += 1
        nextAttemptID += 1
        let id = nextAttemptID
        let request = WebhookRequest(delivery, subscription: subscription, signer: signer, now: Date())
        let origin = callback.origin
        let context = self.context
        attempts[id] = Task {
            let response: AttemptResponse
            if await context.origins.acquire(origin) {
                response = await context.client.post(url: callback, headers: request.headers, body: request.body)
                context.origins.release(origin)
            } else {
                response = AttemptResponse(status: nil, retryAfter: nil, error: "abandoned", duration: .zero)
            }
            await self.complete(id: id, delivery: delivery, webhookId: request.webhookId, response: response)
        }
    }

    private func complete(id: Int, delivery: PendingDelivery, webhookId: String, response: AttemptResponse) async {
        attempts.removeValue(forKey: id)
        inFlight -= 1
        let offset = delivery.offset
        let partition = delivery.partition
        let delivered = response.status.map { (200..<300).contains($0) } ?? false
        guard partitions[partition]?.pending[offset] != nil else { return }
        guard !stopped || delivered else {
            // Abandoned by a stop: due again after the restart, its attempt not counted.
            partitions[partition]?.release(offset)
            return
        }
        let attempt = delivery.attempts + 1
        let now = wallClockMilliseconds()
        let origin = WebhookRequest.origin(of: delivery)
        var record = DeliveryAttempt(
            subscriptionId: subscription.id, topic: subscription.topic, partition: origin.partition, offset: origin.offset,
            webhookId: webhookId, attempt: attempt, outcome: "delivered", status: response.status, error: response.error,
            durationMs: Double(response.duration.nanoseconds) / 1e6, at: now)
        if delivered {
            partitions[partition]?.finish(offset)
            stats.delivered += 1
            stats.lastDeliveredAt = now
            consecutiveFailures = 0
            recordAttempt(record, response.duration)
            if subscription.state == .failing { await changeState(to: .active, reason: nil, event: "recovered") }
        } else {
            stats.failedAttempts += 1
            stats.lastError = response.error ?? "HTTP \(response.status ?? 0)"
            stats.lastErrorAt = now
            consecutiveFailures += 1
            if response.status == 410 {
                record.outcome = "disabled"
                recordAttempt(record, response.duration)
                partitions[partition]?.retry(offset, attempts: attempt, nextAttemptAt: now, error: stats.lastError ?? "")
                await changeState(to: .disabled, reason: "the receiver answered 410 Gone", event: "disabled")
                wakeReaders()
                return
            }
            let schedule = subscription.retrySchedule ?? context.settings.retrySchedule
            var retryAfter: Duration?
            if let status = response.status, status == 429 || status == 503, let header = response.retryAfter {
                retryAfter = RetryAfter.delay(header, nowUnixSeconds: now / 1000)
            }
            if let delay = schedule.delay(beforeAttempt: attempt + 1, retryAfter: retryAfter) {
                record.outcome = "retrying"
                recordAttempt(record, response.duration)
                let next = now + max(1, delay.nanoseconds / 1_000_000)
                partitions[partition]?.retry(offset, attempts: attempt, nextAttemptAt: next, error: stats.lastError ?? "")
                probeNotBefore = next
            } else {
                record.outcome = "deadLettered"
                recordAttempt(record, response.duration)
                var exhausted = delivery
                exhausted.attempts = attempt
                do {
                    try await context.recorder.deadLetter(exhausted, subscription: subscription, error: stats.lastError ?? "")
                    partitions[partition]?.finish(offset)
                    stats.deadLettered += 1
                } catch {
                    // Not stored: keep the delivery and try again later rather than lose it.
                    partitions[partition]?.retry(
                        offset, attempts: delivery.attempts, nextAttemptAt: now + 60_000, error: "\(error)")
                }
            }
            await noteFailure(now: now)
        }
        dirty = true
        wakeReaders()
        schedule()
    }

    /// Turns the subscription `failing` after repeated failures, and `disabled` once it has been
    /// failing for longer than the configured time.
    private func noteFailure(now: Int64) async {
        if subscription.state == .active && consecutiveFailures >= context.settings.failingAfterFailures {
            failingSince = now
            await changeState(to: .failing, reason: stats.lastError, event: "failing")
        } else if subscription.state == .failing, let since = failingSince,
            now - since >= context.settings.disableAfter.nanoseconds / 1_000_000
        {
            await changeState(to: .disabled, reason: "failing since \(since) ms: \(stats.lastError ?? "")", event: "disabled")
        }
    }

    private func changeState(to state: Subscription.State, reason: String?, event: String) async {
        // Decided now, before the registry write is awaited: other completions that run in the
        // meantime see the new state and do not announce the same change again.
        guard subscription.state != state else { return }
        subscription.state = state
        subscription.stateReason = reason
        do {
            let updated = try await context.registry.update(id: subscription.id) { subscription in
                subscription.state = state
                subscription.stateReason = reason
            }
            subscription = updated
            await context.recorder.stateChanged(updated, to: event, reason: reason)
            context.logger.notice(
                "subscription \(event)", metadata: ["subscription": "\(updated.id)", "reason": "\(reason ?? "")"])
        } catch {
            context.logger.warning(
                "cannot change a subscription's state", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
        }
    }

    private func recordAttempt(_ attempt: DeliveryAttempt, _ duration: Duration) {
        context.recorder.record(attempt)
        context.settings.onAttempt?(attempt.outcome, duration)
    }

    private func wakeReaders() {
        let waiters = capacityWaiters
        capacityWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }
}
