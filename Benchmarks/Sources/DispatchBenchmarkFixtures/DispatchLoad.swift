import HubClient
import LogBenchmarkFixtures
import NIOCore
import Synchronization

/// Producing the dispatch benchmarks' events with HubClient (acks=-1 to a flush=always topic).
public enum DispatchLoad {
    /// Events per batch of the backlog.
    public static let backlogBatchEvents = 100

    /// Produces `events` backlog events (send time 0: not measured) as fast as acknowledgements
    /// allow, 8 batches in flight.
    public static func produceBacklog(client: HubClient, topic: String, events: Int) async throws {
        let batch = try JSONEvents.batch(count: backlogBatchEvents, sentNanoseconds: 0)
        let batches = (events + backlogBatchEvents - 1) / backlogBatchEvents
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while next.value.wrappingAdd(1, ordering: .relaxed).oldValue < batches {
                        _ = try await client.produce(topic: topic, partition: 0, records: batch, acks: -1)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Open loop: `eventsPerSecond` events for `duration`. Every `tick` the pacer produces one
    /// batch of the events that have come due since the previous tick, stamped with the time it
    /// is sent (CLOCK_MONOTONIC, see ``JSONEvents``), without waiting for earlier batches'
    /// acknowledgements. Returns the events acknowledged; each batch's ack latency goes to `acks`.
    public static func paced(
        client: HubClient, topic: String, eventsPerSecond: Double, duration: Duration, acks: LatencySamples,
        tick: Duration = .milliseconds(1)
    ) async throws -> Int {
        let start = ContinuousClock.now
        let end = start + duration
        return try await withThrowingTaskGroup(of: Int.self) { group in
            var sent = 0
            var wake = start
            while true {
                let now = ContinuousClock.now
                let due = Int(eventsPerSecond * start.duration(to: min(now, end)).seconds)
                if due > sent {
                    let count = due - sent
                    sent = due
                    group.addTask {
                        let sendStart = ContinuousClock.now
                        let batch = try JSONEvents.batch(count: count, sentNanoseconds: monotonicNanoseconds())
                        _ = try await client.produce(topic: topic, partition: 0, records: batch, acks: -1)
                        acks.add(sendStart.duration(to: .now))
                        return count
                    }
                }
                if now >= end { break }
                wake = max(wake + tick, now)
                try await Task.sleep(until: wake, tolerance: .microseconds(100), clock: .continuous)
            }
            var acknowledged = 0
            for try await count in group { acknowledged += count }
            return acknowledged
        }
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// Keeps the Dispatcher supplied during a throughput run: whenever the events produced minus
/// the events delivered (per subscription) fall below a threshold, produces another 10,000.
public final class BacklogKeeper: Sendable {
    private let produced = Atomic<Int>(0)
    private let toppedUp = Atomic<Int>(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    public init(initial: Int) { produced.store(initial, ordering: .relaxed) }

    /// Events produced in total, and by top-ups only.
    public var producedEvents: Int { produced.load(ordering: .relaxed) }
    public var toppedUpEvents: Int { toppedUp.load(ordering: .relaxed) }

    public func start(
        client: HubClient, topic: String, sink: WebhookSink, subscriptions: Int, threshold: Int
    ) {
        let t = Task {
            while !Task.isCancelled {
                let delivered = sink.arrivals / subscriptions
                if self.produced.load(ordering: .relaxed) - delivered < threshold {
                    let events = 10_000
                    try await DispatchLoad.produceBacklog(client: client, topic: topic, events: events)
                    self.produced.add(events, ordering: .relaxed)
                    self.toppedUp.add(events, ordering: .relaxed)
                } else {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        task.withLock { $0 = t }
    }

    public func stop() async {
        let t = task.withLock { current in defer { current = nil }; return current }
        t?.cancel()
        _ = await t?.result
    }
}
