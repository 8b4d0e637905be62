import Benchmark
import LogBenchmarkFixtures
import LogStore
import NIOCore

// Reads: a sequential scan from offset 0 of a ~1 GiB log with Log.read(from:maxBytes:) at
// 1 MiB, and the latency of random single-offset lookups, read(from: offset, maxBytes: 1), on a
// log of many segments (and, for comparison, the same data in two segments). The logs are
// written in setup (flush=never, then flushed), so reads come from the page cache, as a
// consumer close behind the producers would.

enum ReadMetric {
    static let mbps = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    let settings = BenchmarkSettings.current
    let batches = try! EventBatches(count: 16)

    sequentialReadBenchmark(batches: batches, settings: settings)
    // Many segments, and the same data in few: does a lookup's cost grow with the segment count?
    for segments in [2, settings.lookupSegments, 8 * settings.lookupSegments] {
        lookupBenchmark(segments: segments, batches: batches, settings: settings)
    }
}

/// A full pass from offset 0 to the high watermark in 1 MiB reads is one iteration.
func sequentialReadBenchmark(batches: EventBatches, settings: BenchmarkSettings) {
    let logMiB = settings.readLogBytes >> 20
    let name = "Read from offset 0 maxBytes=1MiB \(logMiB) MiB log"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, ReadMetric.mbps, .readSyscalls, .readBytesLogical], timeUnits: .milliseconds,
        warmupIterations: 1,
        scalingFactor: .one, maxDuration: .seconds(120), maxIterations: settings.readPasses)
    let prepared = Prepared<BenchmarkLog>()
    let totals = RunTotals()

    Benchmark(name, configuration: configuration) { benchmark in
        let log = prepared.get.log
        let end = log.highWatermark
        let batchBytes = batches.batchBytes
        var offset = log.logStartOffset
        var bytes = 0
        let cpuStart = ProcessCPU.seconds()
        let start = ContinuousClock.now
        while offset < end {
            let result = try log.read(from: offset, maxBytes: 1 << 20)
            let records = result.records
            // Batches are all the same size and each read starts on a batch boundary, so the
            // last batch of the answer starts batchBytes before its end.
            guard records.readableBytes >= batchBytes,
                let lastBase = records.getInteger(
                    at: records.readerIndex + records.readableBytes - batchBytes, as: Int64.self)
            else {
                benchmark.error("short read at offset \(offset): \(records.readableBytes) bytes")
                return
            }
            offset = lastBase + Int64(EventBatches.recordsPerBatch)
            bytes += records.readableBytes
        }
        let elapsed = start.duration(to: .now)
        benchmark.measurement(ReadMetric.mbps, Int(Double(bytes) / max(elapsed.seconds, 1e-9) / 1e6))
        if benchmark.currentIteration >= benchmark.configuration.warmupIterations {
            totals.add(logBytes: bytes, elapsed: elapsed, cpuSeconds: ProcessCPU.seconds() - cpuStart)
        }
    } setup: {
        totals.reset()
        let fixture = try BenchmarkLog(name: name, topicConfig: ["flush.policy": "never"])
        try await fixture.fill(appends: settings.readLogBytes / batches.batchBytes, from: batches)
        try await fixture.log.flush()
        prepared.set(fixture)
    } teardown: {
        guard let fixture = prepared.take() else { return }
        let snapshot = totals.snapshot
        ResultsFile.append(
            benchmark: name,
            figures: [
                "log_bytes_per_pass": Double(fixture.log.info.sizeInBytes),
                "segments": Double(fixture.log.info.segments.count),
                "passes": Double(snapshot.iterations),
                "bytes": Double(snapshot.logBytes),
                "seconds": snapshot.seconds,
                "MBps": Double(snapshot.logBytes) / max(snapshot.seconds, 1e-9) / 1e6,
                "cpu_cores_busy": snapshot.cpuSeconds / max(snapshot.seconds, 1e-9),
            ])
        await fixture.close()
    }
}

/// Lookup inputs: the log and random offsets drawn in setup.
struct LookupFixture: Sendable {
    var log: BenchmarkLog
    var offsets: [Int64]
    var latencies: LatencySamples
}

/// One random `read(from: offset, maxBytes: 1)` is one iteration; its wall clock is the latency.
func lookupBenchmark(segments: Int, batches: EventBatches, settings: BenchmarkSettings) {
    let logMiB = settings.lookupLogBytes >> 20
    let name = "Lookup read(from: random, maxBytes: 1) \(logMiB) MiB log in \(segments) segments"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .readSyscalls, .readBytesLogical], timeUnits: .microseconds,
        warmupIterations: 100, scalingFactor: .one,
        maxDuration: settings.lookupDuration, maxIterations: 1_000_000)
    let prepared = Prepared<LookupFixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let offset = fixture.offsets[benchmark.currentIteration % fixture.offsets.count]
        let start = ContinuousClock.now
        let result = try fixture.log.log.read(from: offset, maxBytes: 1)
        let elapsed = start.duration(to: .now)
        blackHole(result.records.readableBytes)
        if benchmark.currentIteration >= benchmark.configuration.warmupIterations {
            fixture.latencies.add(elapsed)
        }
    } setup: {
        // One batch of slack so the log ends up in `segments` segments, not one more.
        let segmentBytes = settings.lookupLogBytes / segments + batches.batchBytes
        let log = try BenchmarkLog(
            name: name, topicConfig: ["flush.policy": "never", "segment.bytes": String(segmentBytes)])
        try await log.fill(appends: settings.lookupLogBytes / batches.batchBytes, from: batches)
        try await log.log.flush()
        let end = log.log.highWatermark
        var generator = SystemRandomNumberGenerator()
        let offsets = (0..<(1 << 16)).map { _ in Int64.random(in: 0..<end, using: &generator) }
        prepared.set(LookupFixture(log: log, offsets: offsets, latencies: LatencySamples()))
    } teardown: {
        guard let fixture = prepared.take() else { return }
        let samples = fixture.latencies.sortedMicroseconds
        ResultsFile.append(
            benchmark: name,
            figures: [
                "segments": Double(fixture.log.log.info.segments.count),
                "log_bytes": Double(fixture.log.log.info.sizeInBytes),
                "lookups": Double(samples.count),
                "p50_us": LatencySamples.percentile(samples, 0.50),
                "p90_us": LatencySamples.percentile(samples, 0.90),
                "p99_us": LatencySamples.percentile(samples, 0.99),
                "max_us": samples.last ?? 0,
            ])
        await fixture.log.close()
    }
}
