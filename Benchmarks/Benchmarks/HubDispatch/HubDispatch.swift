import Benchmark
import DispatchBenchmarkFixtures
import Foundation
import HubBenchmarkFixtures
import HubClient
import LogBenchmarkFixtures
import Synchronization

// The Dispatcher of a `hooklog serve` child process (release build) delivering to a local
// webhook sink: an in-process Hummingbird 2 server on 127.0.0.1 that answers 204 at once.
// Events are 256-byte JSON objects, produced with HubClient (acks=-1) to a one-partition topic
// with flush.policy=always; subscriptions are created over the hub's HTTP API with
// `startFrom: earliest` (the hub runs with --callback-allow 127.0.0.0/8).
//
// - throughput: a backlog is produced first (and topped up so the Dispatcher never runs dry),
//   then the subscriptions are created and the sink counts deliveries per second: one
//   subscription with maxInFlight 16, one with 64, and four on the same origin (maxInFlight 64
//   each, so the per-origin limit of 64 is what binds);
// - latency: the same configurations at half of their measured peak, open loop: each event
//   carries the time it was sent (CLOCK_MONOTONIC ns), the sink takes arrival − sent;
// - the sink's own capacity: async-http-client posting the same body straight to the sink
//   from 16 and 64 concurrent requests. Hooklog's deliveries/s ÷ this is the headline ratio.
//
// Benchmarks run in name order, each in its own process: "Direct …", then "Dispatch N …"
// (peaks), then "Dispatch latency …", which reads its peak from this run's results file.

enum DispatchMetric {
    static let deliveriesPerSecond = BenchmarkMetric.custom(
        "deliveries/s", polarity: .prefersLarger, useScalingFactor: false)
    static let requestsPerSecond = BenchmarkMetric.custom(
        "requests/s", polarity: .prefersLarger, useScalingFactor: false)
    static let latencyP50 = BenchmarkMetric.custom("latency p50 (us)", polarity: .prefersSmaller, useScalingFactor: false)
    static let latencyP99 = BenchmarkMetric.custom("latency p99 (us)", polarity: .prefersSmaller, useScalingFactor: false)
}

let topic = "bench"

/// One dispatch configuration.
struct DispatchCase: Sendable {
    var subscriptions: Int
    var maxInFlight: Int
    var originLimit: Int
    /// Requests the hub may have open at once against the sink.
    var concurrency: Int { min(subscriptions * maxInFlight, originLimit) }
    var label: String {
        "\(subscriptions) subscription\(subscriptions == 1 ? "" : "s") maxInFlight \(maxInFlight) origin limit \(originLimit)"
    }
    var throughputName: String { "Dispatch \(label)" }
    var latencyName: String { "Dispatch latency at half of peak \(label)" }
    var figures: [String: Double] {
        [
            "subscriptions": Double(subscriptions), "max_in_flight": Double(maxInFlight),
            "origin_limit": Double(originLimit), "concurrency": Double(concurrency),
        ]
    }
}

func directName(_ connections: Int) -> String { "Direct POST to sink async-http-client \(connections) connections" }

let benchmarks: @Sendable () -> Void = {
    let settings = DispatchBenchmarkSettings.current
    let cases = [
        DispatchCase(subscriptions: 1, maxInFlight: 16, originLimit: settings.originConcurrency),
        DispatchCase(subscriptions: 1, maxInFlight: 64, originLimit: settings.originConcurrency),
        DispatchCase(subscriptions: 4, maxInFlight: 64, originLimit: settings.originConcurrency),
    ]
    for connections in Set(cases.map(\.concurrency)).sorted() {
        directBenchmark(connections: connections, settings: settings)
    }
    for dispatchCase in cases { throughputBenchmark(dispatchCase, settings: settings) }
    for dispatchCase in cases { latencyBenchmark(dispatchCase, settings: settings) }
}

/// Whether this iteration is measured (not warm-up).
func measured(_ benchmark: Benchmark) -> Bool {
    benchmark.currentIteration >= benchmark.configuration.warmupIterations
}

/// Samples collected over the measured iterations.
final class Samples: Sendable {
    private let values = Mutex<[Double]>([])
    func add(_ more: [Double]) { values.withLock { $0 += more } }
    var sorted: [Double] { values.withLock { $0 }.sorted() }
}

func percentiles(_ prefix: String, _ sorted: [Double]) -> [String: Double] {
    [
        "\(prefix)_p50_us": LatencySamples.percentile(sorted, 0.50),
        "\(prefix)_p90_us": LatencySamples.percentile(sorted, 0.90),
        "\(prefix)_p99_us": LatencySamples.percentile(sorted, 0.99),
        "\(prefix)_p999_us": LatencySamples.percentile(sorted, 0.999),
        "\(prefix)_max_us": sorted.last ?? 0,
        "\(prefix)_samples": Double(sorted.count),
    ]
}

// MARK: - The sink's own capacity

func directBenchmark(connections: Int, settings: DispatchBenchmarkSettings) {
    let name = directName(connections)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, DispatchMetric.requestsPerSecond], timeUnits: .milliseconds, warmupIterations: 1,
        scalingFactor: .one, maxDuration: settings.directDuration, maxIterations: 1_000)
    struct Fixture: Sendable {
        var sink: WebhookSink
        var load: DirectLoad
        var totals = RunTotals()
        var roundTrips = Samples()
    }
    let prepared = Prepared<Fixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        let (requests, roundTrips) = try await fixture.load.run(until: start + settings.iterationDuration)
        let elapsed = start.duration(to: .now)
        benchmark.measurement(DispatchMetric.requestsPerSecond, Int(Double(requests) / elapsed.seconds))
        guard measured(benchmark) else { return }
        fixture.totals.add(appends: requests, elapsed: elapsed, cpuSeconds: ProcessCPU.seconds() - cpuStart)
        fixture.roundTrips.add(roundTrips.map { Double($0) / 1e3 })
    } setup: {
        let sink = try await WebhookSink.start()
        prepared.set(Fixture(sink: sink, load: DirectLoad(url: sink.url(), concurrency: connections)))
    } teardown: {
        guard let fixture = prepared.take() else { return }
        let snapshot = fixture.totals.snapshot
        let seconds = max(snapshot.seconds, 1e-9)
        var figures = percentiles("round_trip", fixture.roundTrips.sorted)
        figures["connections"] = Double(connections)
        figures["requests"] = Double(snapshot.appends)
        figures["seconds"] = snapshot.seconds
        figures["requests_per_s"] = Double(snapshot.appends) / seconds
        // One process: the load generator and the sink together.
        figures["process_cpu_cores_busy"] = snapshot.cpuSeconds / seconds
        figures["sink_arrivals"] = Double(fixture.sink.arrivals)
        ResultsFile.append(benchmark: name, figures: figures, settings: settings.hub.base)
        await fixture.load.shutdown()
        await fixture.sink.stop()
    }
}

// MARK: - Throughput (peak deliveries/s)

/// A hub, the sink, a producer connection and topic `bench` (1 partition, flush=always).
struct HubFixture: Sendable {
    var hub: DispatchHub
    var sink: WebhookSink
    var client: HubClient

    static func start(name: String, settings: DispatchBenchmarkSettings) async throws -> HubFixture {
        let sink = try await WebhookSink.start()
        let hub: DispatchHub
        do {
            hub = try DispatchHub.start(
                dataDirectory: settings.hub.dataDirectory(for: name), originConcurrency: settings.originConcurrency,
                settings: settings.hub.base)
        } catch {
            await sink.stop()
            throw error
        }
        do {
            let client = try await HubClient.connect(host: hub.host, port: hub.kafkaPort, clientId: "bench-dispatch")
            try await client.createTopic(name: topic, partitions: 1, configs: ["flush.policy": "always"])
            return HubFixture(hub: hub, sink: sink, client: client)
        } catch {
            await hub.stop()
            await sink.stop()
            throw error
        }
    }

    /// Creates the case's subscriptions (from the earliest offset), on paths /hook/0, /hook/1…
    func subscribe(_ dispatchCase: DispatchCase) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<dispatchCase.subscriptions {
            ids.append(
                try await hub.subscribe(
                    topic: topic, url: sink.url(path: "/hook/\(i)"), maxInFlight: dispatchCase.maxInFlight))
        }
        return ids
    }

    /// The hub's own counts summed over `ids` (delivered, failedAttempts…), for the results.
    func counts(_ ids: [String]) async -> [String: Double] {
        var sums: [String: Double] = [:]
        for id in ids {
            guard let subscription = try? await hub.subscription(id),
                let counts = subscription["counts"] as? [String: Any]
            else { continue }
            for (key, value) in counts {
                if let number = value as? NSNumber { sums["hub_" + key, default: 0] += number.doubleValue }
            }
        }
        return sums
    }

    /// The hub first (it drains its open requests into the sink), then the sink.
    func stop() async {
        await client.close()
        await hub.stop()
        await sink.stop()
    }
}

func throughputBenchmark(_ dispatchCase: DispatchCase, settings: DispatchBenchmarkSettings) {
    let name = dispatchCase.throughputName
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, DispatchMetric.deliveriesPerSecond], timeUnits: .milliseconds, warmupIterations: 1,
        scalingFactor: .one, maxDuration: settings.throughputDuration, maxIterations: 1_000)
    struct Fixture: Sendable {
        var base: HubFixture
        var subscriptionIds: [String]
        var keeper: BacklogKeeper
        var totals = RunTotals()
    }
    let prepared = Prepared<Fixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let sink = fixture.base.sink
        let hubCPU = fixture.base.hub.cpuSeconds()
        let cpuStart = ProcessCPU.seconds()
        let before = sink.arrivals
        let start = ContinuousClock.now
        try await Task.sleep(for: settings.iterationDuration)
        let deliveries = sink.arrivals - before
        let elapsed = start.duration(to: .now)
        benchmark.measurement(DispatchMetric.deliveriesPerSecond, Int(Double(deliveries) / elapsed.seconds))
        guard measured(benchmark) else { return }
        fixture.totals.add(appends: deliveries, elapsed: elapsed, cpuSeconds: ProcessCPU.seconds() - cpuStart)
        fixture.totals.accumulate("hub_cpu_seconds", fixture.base.hub.cpuSeconds() - hubCPU)
    } setup: {
        let base = try await HubFixture.start(name: name, settings: settings)
        do {
            try await DispatchLoad.produceBacklog(client: base.client, topic: topic, events: settings.backlogEvents)
            let keeper = BacklogKeeper(initial: settings.backlogEvents)
            let ids = try await base.subscribe(dispatchCase)
            keeper.start(
                client: base.client, topic: topic, sink: base.sink, subscriptions: dispatchCase.subscriptions,
                threshold: settings.topUpBelowEvents)
            prepared.set(Fixture(base: base, subscriptionIds: ids, keeper: keeper))
        } catch {
            await base.stop()
            throw error
        }
    } teardown: {
        guard let fixture = prepared.take() else { return }
        await fixture.keeper.stop()
        let snapshot = fixture.totals.snapshot
        let seconds = max(snapshot.seconds, 1e-9)
        var figures = dispatchCase.figures
        figures["deliveries"] = Double(snapshot.appends)
        figures["seconds"] = snapshot.seconds
        figures["deliveries_per_s"] = Double(snapshot.appends) / seconds
        figures["events_per_s_per_subscription"] = Double(snapshot.appends) / seconds / Double(dispatchCase.subscriptions)
        figures["hub_cpu_cores_busy"] = (snapshot.extra["hub_cpu_seconds"] ?? 0) / seconds
        // This process: the sink, and the producer when it tops the backlog up.
        figures["sink_process_cpu_cores_busy"] = snapshot.cpuSeconds / seconds
        figures["backlog_events"] = Double(settings.backlogEvents)
        figures["topped_up_events"] = Double(fixture.keeper.toppedUpEvents)
        figures["sink_arrivals"] = Double(fixture.base.sink.arrivals)
        figures["hub_rss_MB"] = Double(fixture.base.hub.residentBytes()) / 1e6
        let counts = await fixture.base.counts(fixture.subscriptionIds)
        figures.merge(counts) { $1 }
        ResultsFile.append(benchmark: name, figures: figures, settings: settings.hub.base)
        await fixture.base.stop()
    }
}

// MARK: - Latency at half of the peak

/// The case's peak deliveries/s: from this run's results file, else measured here on a
/// separate topic and sink for 3 s (1 s quick) after a 1 s warm-up.
func peakDeliveriesPerSecond(
    _ dispatchCase: DispatchCase, base: HubFixture, settings: DispatchBenchmarkSettings
) async throws -> (Double, String) {
    if let entry = settings.hub.earlierResults()[dispatchCase.throughputName],
        let peak = entry["deliveries_per_s"] as? Double, peak > 0
    {
        return (peak, "this run's \"\(dispatchCase.throughputName)\"")
    }
    let peakTopic = "peak"
    try await base.client.createTopic(name: peakTopic, partitions: 1, configs: ["flush.policy": "always"])
    try await DispatchLoad.produceBacklog(client: base.client, topic: peakTopic, events: settings.backlogEvents)
    let sink = try await WebhookSink.start()
    var ids: [String] = []
    for i in 0..<dispatchCase.subscriptions {
        ids.append(
            try await base.hub.subscribe(
                topic: peakTopic, url: sink.url(path: "/peak/\(i)"), maxInFlight: dispatchCase.maxInFlight))
    }
    let keeper = BacklogKeeper(initial: settings.backlogEvents)
    keeper.start(
        client: base.client, topic: peakTopic, sink: sink, subscriptions: dispatchCase.subscriptions,
        threshold: settings.topUpBelowEvents)
    try await Task.sleep(for: .seconds(1))
    let before = sink.arrivals
    let start = ContinuousClock.now
    try await Task.sleep(for: settings.quick ? .seconds(1) : .seconds(3))
    let peak = Double(sink.arrivals - before) / start.duration(to: .now).seconds
    await keeper.stop()
    for id in ids { try await base.hub.deleteSubscription(id) }
    try await Task.sleep(for: .milliseconds(500))
    await sink.stop()
    return (peak, "measured in setup")
}

func latencyBenchmark(_ dispatchCase: DispatchCase, settings: DispatchBenchmarkSettings) {
    let name = dispatchCase.latencyName
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, DispatchMetric.deliveriesPerSecond, DispatchMetric.latencyP50, DispatchMetric.latencyP99],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one, maxDuration: settings.latencyDuration,
        maxIterations: 1_000)
    struct Fixture: Sendable {
        var base: HubFixture
        var subscriptionIds: [String]
        var peak: Double
        var peakSource: String
        var totals = RunTotals()
        var latencies = Samples()
        var acks = LatencySamples()
    }
    let prepared = Prepared<Fixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let sink = fixture.base.sink
        let subscriptions = dispatchCase.subscriptions
        let eventsPerSecond = fixture.peak * settings.latencyLoadFraction / Double(subscriptions)
        let acks = measured(benchmark) ? fixture.acks : LatencySamples(capacity: 1 << 14)
        let hubCPU = fixture.base.hub.cpuSeconds()
        let cpuStart = ProcessCPU.seconds()
        let before = sink.arrivals
        let start = ContinuousClock.now
        let events = try await DispatchLoad.paced(
            client: fixture.base.client, topic: topic, eventsPerSecond: eventsPerSecond,
            duration: settings.iterationDuration, acks: acks)
        let paced = start.duration(to: .now)
        // Every event of this iteration delivered to every subscription before the next starts.
        let expected = before + events * subscriptions
        let deadline = ContinuousClock.now + .seconds(30)
        while sink.arrivals < expected {
            guard ContinuousClock.now < deadline else {
                benchmark.error("\(sink.arrivals - before) of \(events * subscriptions) deliveries after 30 s")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        let drained = start.duration(to: .now)
        let after = sink.arrivals
        let latencies = sink.latenciesMicroseconds(arrivals: before..<after)
        benchmark.measurement(DispatchMetric.deliveriesPerSecond, Int(Double(after - before) / paced.seconds))
        benchmark.measurement(DispatchMetric.latencyP50, Int(LatencySamples.percentile(latencies, 0.50)))
        benchmark.measurement(DispatchMetric.latencyP99, Int(LatencySamples.percentile(latencies, 0.99)))
        guard measured(benchmark) else { return }
        fixture.latencies.add(latencies)
        fixture.totals.add(appends: after - before, elapsed: paced, cpuSeconds: ProcessCPU.seconds() - cpuStart)
        fixture.totals.accumulate("hub_cpu_seconds", fixture.base.hub.cpuSeconds() - hubCPU)
        fixture.totals.accumulate("drain_seconds", (drained - paced).seconds)
        fixture.totals.accumulate("events", Double(events))
    } setup: {
        let base = try await HubFixture.start(name: name, settings: settings)
        do {
            let (peak, source) = try await peakDeliveriesPerSecond(dispatchCase, base: base, settings: settings)
            let ids = try await base.subscribe(dispatchCase)
            prepared.set(Fixture(base: base, subscriptionIds: ids, peak: peak, peakSource: source))
        } catch {
            await base.stop()
            throw error
        }
    } teardown: {
        guard let fixture = prepared.take() else { return }
        let snapshot = fixture.totals.snapshot
        let seconds = max(snapshot.seconds, 1e-9)
        var figures = dispatchCase.figures
        figures.merge(percentiles("latency", fixture.latencies.sorted)) { $1 }
        let acks = fixture.acks.sortedMicroseconds
        figures["ack_p50_us"] = LatencySamples.percentile(acks, 0.50)
        figures["ack_p99_us"] = LatencySamples.percentile(acks, 0.99)
        figures["peak_deliveries_per_s"] = fixture.peak
        figures["load_fraction"] = settings.latencyLoadFraction
        figures["target_deliveries_per_s"] = fixture.peak * settings.latencyLoadFraction
        figures["deliveries"] = Double(snapshot.appends)
        figures["events"] = snapshot.extra["events"] ?? 0
        figures["seconds"] = snapshot.seconds
        figures["deliveries_per_s"] = Double(snapshot.appends) / seconds
        figures["drain_after_pacing_s_total"] = snapshot.extra["drain_seconds"] ?? 0
        figures["hub_cpu_cores_busy"] = (snapshot.extra["hub_cpu_seconds"] ?? 0) / seconds
        figures["sink_process_cpu_cores_busy"] = snapshot.cpuSeconds / seconds
        let counts = await fixture.base.counts(fixture.subscriptionIds)
        figures.merge(counts) { $1 }
        ResultsFile.append(benchmark: name, figures: figures, settings: settings.hub.base)
        print("\(name): peak from \(fixture.peakSource)")
        await fixture.base.stop()
    }
}
