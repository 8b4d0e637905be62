import Benchmark
import Foundation
import HubBenchmarkFixtures
import HubClient
import LogBenchmarkFixtures
import LogStore
import NIOCore

// The hub over the Kafka protocol on loopback, with the Swift client (HubClient) against a
// `hooklog serve` child process (release build):
//
// - produce: 1, 4 and 16 connections, each with HOOKLOG_BENCH_IN_FLIGHT (default 8) produce
//   requests in flight (a pipelining producer), the same prebuilt 100-record batches of 256-byte
//   values as LogAppend, acks=-1, topic flush.policy=always: events/s, MB/s, ack latency; and
//   the same with one request in flight per connection (as many concurrent appends as
//   LogAppend's appenders, for a like-for-like ratio);
// - produce at half (and a quarter) of the peak: the connection count of the best of those runs,
//   rate-limited (open loop) to that fraction of its events/s: ack latency;
// - replay: fetch from offset 0 to the end of a ~1 GiB topic with maxBytes 8 MiB, page cache
//   warm: MB/s.
//
// Each benchmark starts its own hub on its own data directory and removes it afterwards.

enum HubMetric {
    static let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)
    static let valueMBps = BenchmarkMetric.custom("value MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let ackP50 = BenchmarkMetric.custom("ack p50 (us)", polarity: .prefersSmaller, useScalingFactor: false)
    static let ackP99 = BenchmarkMetric.custom("ack p99 (us)", polarity: .prefersSmaller, useScalingFactor: false)
    static let mbps = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
}

let topic = "bench"

let benchmarks: @Sendable () -> Void = {
    let settings = HubBenchmarkSettings.current
    let batches = try! EventBatches(count: 16)
    for inFlight in settings.inFlightVariants {
        for connections in settings.connectionCounts {
            produceBenchmark(connections: connections, inFlight: inFlight, batches: batches, settings: settings)
        }
    }
    for (fraction, label) in settings.loadFractions {
        partialLoadBenchmark(fraction: fraction, label: label, batches: batches, settings: settings)
    }
    replayBenchmark(batches: batches, settings: settings)
}

/// A hub with topic `bench` (1 partition, flush.policy=always) and connected clients.
struct ProduceFixture: Sendable {
    var hub: HubProcess
    var clients: [HubClient]
    var latencies = LatencySamples()
    var totals = RunTotals()

    static func start(name: String, connections: Int, settings: HubBenchmarkSettings) async throws -> ProduceFixture
    {
        let hub = try HubProcess.start(dataDirectory: settings.dataDirectory(for: name), flush: "always")
        do {
            let clients = try await ProduceLoad.connect(hub, count: connections)
            try await clients[0].createTopic(name: topic, partitions: 1, configs: ["flush.policy": "always"])
            return ProduceFixture(hub: hub, clients: clients)
        } catch {
            await hub.stop()
            throw error
        }
    }

    func stop() async {
        for client in clients { await client.close() }
        await hub.stop()
    }
}

func produceName(connections: Int, inFlight: Int) -> String {
    "Produce TCP acks=-1 flush=always \(connections) connection\(connections == 1 ? "" : "s") x\(inFlight) in flight"
}

/// Closed loop: every connection keeps `inFlight` produce requests outstanding; one iteration is
/// `iterationDuration` of that.
func produceBenchmark(connections: Int, inFlight: Int, batches: EventBatches, settings: HubBenchmarkSettings) {
    let name = produceName(connections: connections, inFlight: inFlight)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, HubMetric.eventsPerSecond, HubMetric.valueMBps, HubMetric.ackP50, HubMetric.ackP99],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
        maxDuration: settings.produceDuration, maxIterations: 1_000)
    let prepared = Prepared<ProduceFixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let iteration = LatencySamples(capacity: 1 << 16)
        let serverCPU = fixture.hub.cpuSeconds()
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        let appends = try await ProduceLoad.closedLoop(
            clients: fixture.clients, inFlight: inFlight, topic: topic, batches: batches,
            until: start + settings.iterationDuration, latencies: iteration)
        let elapsed = start.duration(to: .now)
        recordProduce(
            benchmark, fixture: fixture, iteration: iteration, appends: appends, batchBytes: batches.batchBytes,
            elapsed: elapsed, clientCPU: ProcessCPU.seconds() - cpuStart, serverCPU: fixture.hub.cpuSeconds() - serverCPU)
    } setup: {
        prepared.set(try await ProduceFixture.start(name: name, connections: connections, settings: settings))
    } teardown: {
        guard let fixture = prepared.take() else { return }
        var figures = produceFigures(fixture)
        figures["connections"] = Double(connections)
        figures["in_flight_per_connection"] = Double(inFlight)
        ResultsFile.append(benchmark: name, figures: figures, settings: settings.base)
        await fixture.stop()
    }
}

/// Open loop at `fraction` of the best closed-loop run in this run's results file (or, run
/// alone, of a 3-second closed-loop run with the most connections, measured in setup), with the
/// connection count of that run.
func partialLoadBenchmark(fraction: Double, label: String, batches: EventBatches, settings: HubBenchmarkSettings) {
    let name = "Produce TCP acks=-1 flush=always at \(label) of peak load"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, HubMetric.eventsPerSecond, HubMetric.valueMBps, HubMetric.ackP50, HubMetric.ackP99],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
        maxDuration: settings.produceDuration, maxIterations: 1_000)
    struct Plan: Sendable {
        var fixture: ProduceFixture
        var peakEventsPerSecond: Double
        var peakSource: String
        var lags = LatencySamples()
    }
    let prepared = Prepared<Plan>()

    Benchmark(name, configuration: configuration) { benchmark in
        let plan = prepared.get
        let fixture = plan.fixture
        let iteration = LatencySamples(capacity: 1 << 16)
        let serverCPU = fixture.hub.cpuSeconds()
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        let batchesPerSecond = plan.peakEventsPerSecond * fraction / Double(EventBatches.recordsPerBatch)
        let lags = measured(benchmark) ? plan.lags : LatencySamples(capacity: 1 << 16)
        let appends = try await ProduceLoad.paced(
            clients: fixture.clients, batchesPerSecond: batchesPerSecond, topic: topic, batches: batches,
            duration: settings.iterationDuration, latencies: iteration, lags: lags)
        let elapsed = start.duration(to: .now)
        recordProduce(
            benchmark, fixture: fixture, iteration: iteration, appends: appends, batchBytes: batches.batchBytes,
            elapsed: elapsed, clientCPU: ProcessCPU.seconds() - cpuStart, serverCPU: fixture.hub.cpuSeconds() - serverCPU)
    } setup: {
        // The peak: the best events/s among this run's closed-loop produce results.
        var peak: (eventsPerSecond: Double, connections: Int, name: String)?
        for (entryName, entry) in settings.earlierResults()
        where entryName.hasPrefix("Produce TCP") && entry["load_fraction"] == nil {
            guard let events = entry["events_per_s"] as? Double, let connections = entry["connections"] as? Double
            else { continue }
            if peak == nil || events > peak!.eventsPerSecond { peak = (events, Int(connections), entryName) }
        }
        if let peak {
            let fixture = try await ProduceFixture.start(name: name, connections: peak.connections, settings: settings)
            prepared.set(Plan(fixture: fixture, peakEventsPerSecond: peak.eventsPerSecond, peakSource: peak.name))
            return
        }
        let connections = settings.connectionCounts.max() ?? 16
        let fixture = try await ProduceFixture.start(name: name, connections: connections, settings: settings)
        let start = ContinuousClock.now
        let appends = try await ProduceLoad.closedLoop(
            clients: fixture.clients, inFlight: settings.inFlightPerConnection, topic: topic, batches: batches,
            until: start + .seconds(3), latencies: nil)
        let events = Double(appends * EventBatches.recordsPerBatch) / start.duration(to: .now).seconds
        prepared.set(
            Plan(fixture: fixture, peakEventsPerSecond: events, peakSource: "measured in setup (3 s closed loop)"))
    } teardown: {
        guard let plan = prepared.take() else { return }
        var figures = produceFigures(plan.fixture)
        let lags = plan.lags.sortedMicroseconds
        figures["connections"] = Double(plan.fixture.clients.count)
        figures["peak_events_per_s"] = plan.peakEventsPerSecond
        figures["target_events_per_s"] = plan.peakEventsPerSecond * fraction
        figures["load_fraction"] = fraction
        figures["send_lag_p50_us"] = LatencySamples.percentile(lags, 0.50)
        figures["send_lag_p99_us"] = LatencySamples.percentile(lags, 0.99)
        // The disk's part in the tail: this hub's fdatasyncs (warm-up included; the hub is fresh).
        let fsyncs = plan.fixture.hub.fsyncHistogram()
        if let total = fsyncs.last?.count, total > 0 {
            figures["fsync_count"] = total
            let atMost = { (seconds: Double) in fsyncs.first { $0.upperBound >= seconds }?.count ?? total }
            figures["fsync_over_2ms_share"] = 1 - atMost(0.002) / total
            figures["fsync_over_5ms_share"] = 1 - atMost(0.005) / total
            // The smallest bucket bound with 99 % of the fsyncs at or below it.
            figures["fsync_p99_bucket_ms"] = (fsyncs.first { $0.count >= 0.99 * total }?.upperBound ?? .infinity) * 1e3
        }
        ResultsFile.append(benchmark: name, figures: figures, settings: settings.base)
        print("\(name): peak from \(plan.peakSource)")
        await plan.fixture.stop()
    }
}

/// One iteration's custom metrics; measured iterations go to the run's totals.
func recordProduce(
    _ benchmark: Benchmark, fixture: ProduceFixture, iteration: LatencySamples, appends: Int, batchBytes: Int,
    elapsed: Duration, clientCPU: Double, serverCPU: Double
) {
    let seconds = max(elapsed.seconds, 1e-9)
    let events = appends * EventBatches.recordsPerBatch
    let sorted = iteration.sortedMicroseconds
    benchmark.measurement(HubMetric.eventsPerSecond, Int(Double(events) / seconds))
    benchmark.measurement(HubMetric.valueMBps, Int(Double(EventBatches.valueBytes(appends: appends)) / seconds / 1e6))
    benchmark.measurement(HubMetric.ackP50, Int(LatencySamples.percentile(sorted, 0.50)))
    benchmark.measurement(HubMetric.ackP99, Int(LatencySamples.percentile(sorted, 0.99)))
    guard measured(benchmark) else { return }
    fixture.latencies.add(contentsOf: iteration)
    fixture.totals.add(appends: appends, logBytes: appends * batchBytes, elapsed: elapsed, cpuSeconds: clientCPU)
    fixture.totals.accumulate("server_cpu_seconds", serverCPU)
}

/// The totals of a produce benchmark as results-file figures.
func produceFigures(_ fixture: ProduceFixture) -> [String: Double] {
    let snapshot = fixture.totals.snapshot
    let seconds = max(snapshot.seconds, 1e-9)
    let latencies = fixture.latencies.sortedMicroseconds
    return [
        "iterations": Double(snapshot.iterations),
        "appends": Double(snapshot.appends),
        "events": Double(snapshot.events),
        "log_bytes": Double(snapshot.logBytes),
        "seconds": snapshot.seconds,
        "events_per_s": Double(snapshot.events) / seconds,
        "log_MBps": Double(snapshot.logBytes) / seconds / 1e6,
        "value_MBps": Double(snapshot.valueBytes) / seconds / 1e6,
        "ack_p50_us": LatencySamples.percentile(latencies, 0.50),
        "ack_p90_us": LatencySamples.percentile(latencies, 0.90),
        "ack_p99_us": LatencySamples.percentile(latencies, 0.99),
        "ack_p999_us": LatencySamples.percentile(latencies, 0.999),
        "ack_max_us": latencies.last ?? 0,
        "ack_samples": Double(latencies.count),
        "client_cpu_cores_busy": snapshot.cpuSeconds / seconds,
        "server_cpu_cores_busy": (snapshot.extra["server_cpu_seconds"] ?? 0) / seconds,
        "hub_rss_MB": Double(fixture.hub.residentBytes()) / 1e6,
    ]
}

/// Whether this iteration is measured (not warmup).
func measured(_ benchmark: Benchmark) -> Bool {
    benchmark.currentIteration >= benchmark.configuration.warmupIterations
}

/// A hub serving a prefilled topic and one client.
struct ReplayFixture: Sendable {
    var hub: HubProcess
    var client: HubClient
    var highWatermark: Int64
    var logBytes: Int
    var totals = RunTotals()
}

/// One iteration: fetch from offset 0 to the high watermark with maxBytes `fetchMaxBytes`, one
/// request at a time (a consumer replaying the topic).
func replayBenchmark(batches: EventBatches, settings: HubBenchmarkSettings) {
    let logMiB = settings.replayLogBytes >> 20
    let fetchMiB = settings.fetchMaxBytes >> 20
    let name = "Replay TCP fetch from offset 0 maxBytes=\(fetchMiB)MiB \(logMiB) MiB topic"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, HubMetric.mbps], timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
        maxDuration: .seconds(120), maxIterations: settings.replayPasses)
    let prepared = Prepared<ReplayFixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        var offset: Int64 = 0
        var bytes = 0
        var fetches = 0
        let serverCPU = fixture.hub.cpuSeconds()
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        while offset < fixture.highWatermark {
            let result = try await fixture.client.fetch(
                topic: topic, partition: 0, offset: offset, maxBytes: settings.fetchMaxBytes)
            // (ErrorCode lives in HubProtocol, which is not a product: a failed fetch shows as
            // no progress, with its error in the message.)
            let next = result.nextOffset
            guard next > offset else {
                benchmark.error("fetch at \(offset) returned no whole batch (error \(result.error))")
                return
            }
            offset = next
            bytes += result.records.readableBytes
            fetches += 1
        }
        let elapsed = start.duration(to: .now)
        benchmark.measurement(HubMetric.mbps, Int(Double(bytes) / max(elapsed.seconds, 1e-9) / 1e6))
        if measured(benchmark) {
            fixture.totals.add(logBytes: bytes, elapsed: elapsed, cpuSeconds: ProcessCPU.seconds() - cpuStart)
            fixture.totals.accumulate("server_cpu_seconds", fixture.hub.cpuSeconds() - serverCPU)
            fixture.totals.accumulate("fetches", Double(fetches))
        }
    } setup: {
        // Written in-process with LogStore (flush=never, then flushed and closed cleanly), then
        // served by the hub: the data is in the page cache, as for a consumer close behind.
        let log = try BenchmarkLog(name: name, topicConfig: ["flush.policy": "never"], settings: settings.base)
        let directory = log.directory
        do {
            try await log.fill(appends: settings.replayLogBytes / batches.batchBytes, from: batches)
            try await log.log.flush()
        } catch {
            await log.close()
            throw error
        }
        let highWatermark = log.log.highWatermark
        let logBytes = Int(log.log.info.sizeInBytes)
        await log.manager.close()
        let hub = try HubProcess.start(dataDirectory: directory, flush: "always")
        do {
            let client = try await HubClient.connect(host: hub.host, port: hub.port, clientId: "bench-replay")
            prepared.set(ReplayFixture(hub: hub, client: client, highWatermark: highWatermark, logBytes: logBytes))
        } catch {
            await hub.stop()
            throw error
        }
    } teardown: {
        guard let fixture = prepared.take() else { return }
        let snapshot = fixture.totals.snapshot
        let seconds = max(snapshot.seconds, 1e-9)
        let fetches = snapshot.extra["fetches"] ?? 0
        ResultsFile.append(
            benchmark: name,
            figures: [
                "log_bytes_per_pass": Double(fixture.logBytes),
                "high_watermark": Double(fixture.highWatermark),
                "passes": Double(snapshot.iterations),
                "bytes": Double(snapshot.logBytes),
                "seconds": snapshot.seconds,
                "MBps": Double(snapshot.logBytes) / seconds / 1e6,
                "fetches": fetches,
                "bytes_per_fetch": Double(snapshot.logBytes) / max(fetches, 1),
                "fetch_max_bytes": Double(settings.fetchMaxBytes),
                "client_cpu_cores_busy": snapshot.cpuSeconds / seconds,
                "server_cpu_cores_busy": (snapshot.extra["server_cpu_seconds"] ?? 0) / seconds,
                "hub_rss_MB": Double(fixture.hub.residentBytes()) / 1e6,
            ],
            settings: settings.base)
        await fixture.client.close()
        await fixture.hub.stop()
    }
}
