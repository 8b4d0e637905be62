import HubClient
import LogBenchmarkFixtures
import NIOCore

/// Producers over TCP: HubClient connections sending the prebuilt 100-record batches to one
/// partition with acks=-1, either as fast as acknowledgements allow (closed loop, several
/// requests in flight per connection) or at a fixed rate (open loop).
public enum ProduceLoad {
    /// `inFlight` tasks per connection, each producing its batch again as soon as the previous
    /// one is acknowledged, until `deadline`. Returns the acknowledged appends; each one's
    /// latency (from the `produce` call to its return) goes to `latencies`.
    public static func closedLoop(
        clients: [HubClient], inFlight: Int, topic: String, batches: EventBatches,
        until deadline: ContinuousClock.Instant, latencies: LatencySamples?
    ) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (c, client) in clients.enumerated() {
                for t in 0..<inFlight {
                    let batch = batches.batches[(c * inFlight + t) % batches.batches.count]
                    group.addTask(executorPreference: client.taskExecutor) {
                        var appends = 0
                        while ContinuousClock.now < deadline {
                            let start = ContinuousClock.now
                            _ = try await client.produce(topic: topic, partition: 0, records: batch, acks: -1)
                            latencies?.add(start.duration(to: .now))
                            appends += 1
                        }
                        return appends
                    }
                }
            }
            var total = 0
            for try await appends in group { total += appends }
            return total
        }
    }

    /// Open loop: `batchesPerSecond` produce requests spread evenly over the connections (each
    /// connection has one due every `connections / batchesPerSecond` seconds, the connections
    /// staggered), each sent when due whatever the number already in flight, for `duration`.
    /// One pacer wakes every `tick` and sends what is due (a sleep per request costs the client
    /// several times the CPU of the request itself). Latency is measured from the `produce`
    /// call; `lags` gets how late each call started after its due time (the pacer's own error,
    /// at most about a tick). Returns the acknowledged appends.
    public static func paced(
        clients: [HubClient], batchesPerSecond: Double, topic: String, batches: EventBatches, duration: Duration,
        latencies: LatencySamples, lags: LatencySamples, tick: Duration = .milliseconds(1)
    ) async throws -> Int {
        let connections = clients.count
        let periodNanoseconds = 1e9 * Double(connections) / batchesPerSecond
        let start = ContinuousClock.now + .milliseconds(1)
        let end = start + duration
        func due(_ connection: Int, _ k: Int) -> ContinuousClock.Instant {
            start + .nanoseconds(Int64(periodNanoseconds * (Double(k) + Double(connection) / Double(connections))))
        }
        // A discarding group: finished requests are dropped as they complete.
        return try await withThrowingDiscardingTaskGroup(returning: Int.self) { group in
            var next = [Int](repeating: 0, count: connections)
            var sent = 0
            var wake = start
            while true {
                let now = ContinuousClock.now
                var pending = false
                for c in 0..<connections {
                    while true {
                        let scheduled = due(c, next[c])
                        if scheduled >= end { break }
                        pending = true
                        if scheduled > now { break }
                        let client = clients[c]
                        let batch = batches.batches[c % batches.batches.count]
                        group.addTask(executorPreference: client.taskExecutor) {
                            let sendStart = ContinuousClock.now
                            lags.add(scheduled.duration(to: sendStart))
                            _ = try await client.produce(topic: topic, partition: 0, records: batch, acks: -1)
                            latencies.add(sendStart.duration(to: .now))
                        }
                        next[c] += 1
                        sent += 1
                    }
                }
                if !pending { break }
                wake = max(wake + tick, now)
                try await Task.sleep(until: wake, tolerance: .microseconds(100), clock: .continuous)
            }
            return sent
        }
    }

    /// Connects `count` clients to the hub.
    public static func connect(_ hub: HubProcess, count: Int) async throws -> [HubClient] {
        var clients: [HubClient] = []
        for i in 0..<count {
            clients.append(try await HubClient.connect(host: hub.host, port: hub.port, clientId: "bench-\(i)"))
        }
        return clients
    }
}
