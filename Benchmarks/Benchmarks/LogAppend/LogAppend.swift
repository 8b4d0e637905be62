import Benchmark
import LogBenchmarkFixtures
import LogStore

// Append throughput of one partition's log: 100-record batches of 256-byte values, built once,
// appended by 1, 4 or 16 concurrent producers under flush=always (fdatasync before each
// acknowledgement, group-committed), and by one producer under flush=never. A last benchmark
// counts how many appends share one fdatasync with 16 producers.

/// Custom metrics: exact figures per iteration (the framework's `throughput` counts whole
/// iterations per second as an integer, which only fits the one-producer runs, whose iteration
/// is exactly 1000 events: scalingFactor .kilo).
enum AppendMetric {
    static let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)
    static let logMBps = BenchmarkMetric.custom("log MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let valueMBps = BenchmarkMetric.custom("value MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let recordsPerSync = BenchmarkMetric.custom(
        "records/fdatasync", polarity: .prefersLarger, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    let settings = BenchmarkSettings.current
    let batches = try! EventBatches(count: 16)

    for appenders in [1, 4, 16] {
        appendBenchmark(flush: "always", appenders: appenders, batches: batches, settings: settings)
    }
    appendBenchmark(flush: "never", appenders: 1, batches: batches, settings: settings)
    appendsPerSyncBenchmark(appenders: 16, batches: batches, settings: settings)
}

/// Appends per producer in one iteration of a multi-producer run: enough that the producers
/// run in step for several group commits, few enough for many iterations.
let appendsPerProducer = 10

func appendBenchmark(flush: String, appenders: Int, batches: EventBatches, settings: BenchmarkSettings) {
    let name = "Append flush=\(flush) \(appenders) appender\(appenders == 1 ? "" : "s")"
    let single = appenders == 1
    // One producer: an iteration is exactly 1000 events (10 batches), so `throughput` × 1000 is
    // events/s. Several: an iteration is `appendsPerProducer` appends per producer.
    var metrics: [BenchmarkMetric] = [
        .wallClock, AppendMetric.eventsPerSecond, AppendMetric.logMBps, AppendMetric.valueMBps,
    ]
    if single { metrics.append(.throughput) }
    var maxIterations = 1_000_000
    if flush == "never" {
        // About as many bytes as fio's buffered write, then a final flush timed in teardown.
        maxIterations = max(1, settings.neverFlushBytes / (10 * batches.batchBytes))
    }
    let configuration = Benchmark.Configuration(
        metrics: metrics, timeUnits: single ? .automatic : .milliseconds, warmupIterations: 2,
        scalingFactor: single ? .kilo : .one, maxDuration: settings.appendDuration, maxIterations: maxIterations)
    let prepared = Prepared<BenchmarkLog>()
    let totals = RunTotals()

    Benchmark(name, configuration: configuration) { benchmark in
        let log = prepared.get.log
        let appendsEach =
            single ? benchmark.scaledIterations.count / EventBatches.recordsPerBatch : appendsPerProducer
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        try await Appenders.run(log: log, batches: batches, appenders: appenders, appendsEach: appendsEach)
        let elapsed = start.duration(to: .now)
        let appends = appenders * appendsEach
        record(
            benchmark, appends: appends, batchBytes: batches.batchBytes, elapsed: elapsed,
            cpuSeconds: ProcessCPU.seconds() - cpuStart, totals: totals)
    } setup: {
        totals.reset()
        prepared.set(try BenchmarkLog(name: name, topicConfig: ["flush.policy": flush]))
    } teardown: {
        guard let fixture = prepared.take() else { return }
        var figures = appendFigures(totals.snapshot, appenders: appenders)
        if flush == "never" {
            // Like fio's end_fsync: what it costs to make the appended bytes durable at the end.
            let start = ContinuousClock.now
            try await fixture.log.flush()
            let flushSeconds = start.duration(to: .now).seconds
            let snapshot = totals.snapshot
            figures["final_flush_s"] = flushSeconds
            figures["log_MBps_incl_flush"] = Double(snapshot.logBytes) / (snapshot.seconds + flushSeconds) / 1e6
            figures["value_MBps_incl_flush"] = Double(snapshot.valueBytes) / (snapshot.seconds + flushSeconds) / 1e6
            figures["events_per_s_incl_flush"] = Double(snapshot.events) / (snapshot.seconds + flushSeconds)
        }
        ResultsFile.append(benchmark: name, figures: figures)
        await fixture.close()
    }
}

func appendsPerSyncBenchmark(appenders: Int, batches: EventBatches, settings: BenchmarkSettings) {
    let name = "Appends per fdatasync flush=always \(appenders) appenders"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, AppendMetric.eventsPerSecond, AppendMetric.recordsPerSync], timeUnits: .milliseconds,
        warmupIterations: 2, scalingFactor: .one, maxDuration: settings.appendDuration, maxIterations: 1_000_000)
    let prepared = Prepared<(BenchmarkLog, CountingFileSystem)>()
    let totals = RunTotals()

    Benchmark(name, configuration: configuration) { benchmark in
        let (fixture, fileSystem) = prepared.get
        let counters = fileSystem.counters
        let syncsBefore = counters.fileSyncCount
        let syncTimeBefore = counters.fileSyncTime
        let writesBefore = counters.writeCount
        let writeTimeBefore = counters.writeTime
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        try await Appenders.run(
            log: fixture.log, batches: batches, appenders: appenders, appendsEach: appendsPerProducer)
        let elapsed = start.duration(to: .now)
        let syncs = counters.fileSyncCount - syncsBefore
        let appends = appenders * appendsPerProducer
        benchmark.measurement(AppendMetric.recordsPerSync, appends * EventBatches.recordsPerBatch / max(1, syncs))
        record(
            benchmark, appends: appends, batchBytes: batches.batchBytes, elapsed: elapsed,
            cpuSeconds: ProcessCPU.seconds() - cpuStart, totals: totals)
        if measured(benchmark) {
            totals.accumulate("fdatasyncs", Double(syncs))
            totals.accumulate("fdatasync_seconds", (counters.fileSyncTime - syncTimeBefore).seconds)
            totals.accumulate("pwrites", Double(counters.writeCount - writesBefore))
            totals.accumulate("pwrite_seconds", (counters.writeTime - writeTimeBefore).seconds)
        }
    } setup: {
        totals.reset()
        let fileSystem = CountingFileSystem()
        let fixture = try BenchmarkLog(name: name, topicConfig: ["flush.policy": "always"], fileSystem: fileSystem)
        prepared.set((fixture, fileSystem))
    } teardown: {
        guard let (fixture, fileSystem) = prepared.take() else { return }
        let snapshot = totals.snapshot
        var figures = appendFigures(snapshot, appenders: appenders)
        let syncs = snapshot.extra["fdatasyncs"] ?? 0
        let syncSeconds = snapshot.extra["fdatasync_seconds"] ?? 0
        figures["fdatasyncs"] = syncs
        figures["appends_per_fdatasync"] = Double(snapshot.appends) / max(1, syncs)
        figures["fdatasyncs_per_s"] = syncs / max(snapshot.seconds, 1e-9)
        figures["log_bytes_per_fdatasync"] = Double(snapshot.logBytes) / max(1, syncs)
        // How long one fdatasync took inside the log, and the share of the run spent waiting in
        // fdatasync: near 1 means the writer is disk-bound, lower means gaps between commits.
        figures["fdatasync_mean_us"] = syncSeconds * 1e6 / max(1, syncs)
        figures["fdatasync_busy_fraction"] = syncSeconds / max(snapshot.seconds, 1e-9)
        let writes = snapshot.extra["pwrites"] ?? 0
        let writeSeconds = snapshot.extra["pwrite_seconds"] ?? 0
        figures["pwrites"] = writes
        figures["pwrite_mean_us"] = writeSeconds * 1e6 / max(1, writes)
        figures["pwrite_busy_fraction"] = writeSeconds / max(snapshot.seconds, 1e-9)
        figures["directory_syncs_total"] = Double(fileSystem.counters.directorySyncCount)
        ResultsFile.append(benchmark: name, figures: figures)
        await fixture.close()
    }
}

/// Whether this iteration is measured (not warmup).
func measured(_ benchmark: Benchmark) -> Bool {
    benchmark.currentIteration >= benchmark.configuration.warmupIterations
}

/// Reports one iteration's custom metrics and adds it to the totals when measured.
func record(
    _ benchmark: Benchmark, appends: Int, batchBytes: Int, elapsed: Duration, cpuSeconds: Double, totals: RunTotals
) {
    let seconds = max(elapsed.seconds, 1e-9)
    let events = appends * EventBatches.recordsPerBatch
    benchmark.measurement(AppendMetric.eventsPerSecond, Int(Double(events) / seconds))
    benchmark.measurement(AppendMetric.logMBps, Int(Double(appends * batchBytes) / seconds / 1e6))
    let valueBytes = Double(EventBatches.valueBytes(appends: appends))
    benchmark.measurement(AppendMetric.valueMBps, Int(valueBytes / seconds / 1e6))
    if measured(benchmark) {
        totals.add(appends: appends, logBytes: appends * batchBytes, elapsed: elapsed, cpuSeconds: cpuSeconds)
    }
}

/// The totals of an append benchmark as results-file figures.
func appendFigures(_ snapshot: RunTotals.Snapshot, appenders: Int) -> [String: Double] {
    let seconds = max(snapshot.seconds, 1e-9)
    return [
        "appenders": Double(appenders),
        "iterations": Double(snapshot.iterations),
        "appends": Double(snapshot.appends),
        "events": Double(snapshot.events),
        "log_bytes": Double(snapshot.logBytes),
        "value_bytes": Double(snapshot.valueBytes),
        "seconds": snapshot.seconds,
        "events_per_s": Double(snapshot.events) / seconds,
        "log_MBps": Double(snapshot.logBytes) / seconds / 1e6,
        "value_MBps": Double(snapshot.valueBytes) / seconds / 1e6,
        "cpu_seconds": snapshot.cpuSeconds,
        // Cores kept busy (of 2 here) and CPU per appended MB: is the run disk- or CPU-bound?
        "cpu_cores_busy": snapshot.cpuSeconds / seconds,
        "cpu_ms_per_log_MB": snapshot.cpuSeconds * 1e3 / max(Double(snapshot.logBytes) / 1e6, 1e-9),
    ]
}
