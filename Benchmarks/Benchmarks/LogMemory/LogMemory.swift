import Benchmark
import LogBenchmarkFixtures
import LogStore

// Resident memory while one producer appends HOOKLOG_BENCH_RSS_BYTES (default 10 GiB) of log
// with flush=never. The topic keeps at most retention.bytes (segments deleted as it goes, by
// calling enforceRetention() periodically), so the disk use stays bounded too. RSS must stay
// flat: it is sampled as the log grows and the growth after the first 10 % is reported.

enum MemoryMetric {
    static let rssAfterWarmup = BenchmarkMetric.custom("RSS at 10% (MB)", useScalingFactor: false)
    static let rssMax = BenchmarkMetric.custom("RSS max (MB)", useScalingFactor: false)
    static let rssGrowth = BenchmarkMetric.custom("RSS growth after 10% (MB)", useScalingFactor: false)
    static let logMBps = BenchmarkMetric.custom("log MB/s", polarity: .prefersLarger, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    let settings = BenchmarkSettings.current
    let batches = try! EventBatches(count: 16)
    let gib = Double(settings.rssBytes) / Double(1 << 30)
    let name = "RSS appending \(gib.formatted2) GiB flush=never retention.bytes=\(settings.rssRetentionBytes >> 20)MiB"
    let configuration = Benchmark.Configuration(
        metrics: [
            .wallClock, .peakMemoryResident, .peakMemoryResidentDelta, MemoryMetric.rssAfterWarmup,
            MemoryMetric.rssMax, MemoryMetric.rssGrowth, MemoryMetric.logMBps,
        ],
        timeUnits: .seconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(3600),
        maxIterations: 1)
    let prepared = Prepared<BenchmarkLog>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let log = fixture.log
        let batchBytes = batches.batchBytes
        let totalAppends = settings.rssBytes / batchBytes
        let sampleEvery = max(1, (64 << 20) / batchBytes)  // an RSS sample every 64 MiB
        let retentionEvery = max(1, (settings.rssRetentionBytes / 4) / batchBytes)
        let warmAt = totalAppends / 10
        var rssAtWarm = 0
        var rssMax = 0
        var segmentsDeleted = 0
        var samples: [(bytes: Int, rss: Int)] = []
        let start = ContinuousClock.now
        for i in 0..<totalAppends {
            _ = try await log.append(batches.batches[i & 15])
            if i % sampleEvery == 0 || i == totalAppends - 1 {
                let rss = ResidentMemory.current()
                samples.append((i * batchBytes, rss))
                if i >= warmAt { rssMax = max(rssMax, rss) }
                if rssAtWarm == 0 && i >= warmAt { rssAtWarm = rss }
            }
            if i % retentionEvery == retentionEvery - 1 {
                segmentsDeleted += await fixture.manager.enforceRetention()
            }
        }
        let elapsed = start.duration(to: .now)
        let appended = totalAppends * batchBytes
        benchmark.measurement(MemoryMetric.rssAfterWarmup, rssAtWarm >> 20)
        benchmark.measurement(MemoryMetric.rssMax, rssMax >> 20)
        benchmark.measurement(MemoryMetric.rssGrowth, max(0, rssMax - rssAtWarm) >> 20)
        benchmark.measurement(MemoryMetric.logMBps, Int(Double(appended) / elapsed.seconds / 1e6))
        let info = log.info
        var figures: [String: Double] = [
            "log_bytes_appended": Double(appended),
            "seconds": elapsed.seconds,
            "log_MBps": Double(appended) / elapsed.seconds / 1e6,
            "rss_warm_MB": Double(rssAtWarm) / 1e6,
            "rss_max_after_10pct_MB": Double(rssMax) / 1e6,
            "rss_growth_after_10pct_MB": Double(max(0, rssMax - rssAtWarm)) / 1e6,
            "rss_first_sample_MB": Double(samples.first?.rss ?? 0) / 1e6,
            "rss_last_sample_MB": Double(samples.last?.rss ?? 0) / 1e6,
            "segments_deleted": Double(segmentsDeleted),
            "log_size_at_end": Double(info.sizeInBytes),
            "segments_at_end": Double(info.segments.count),
        ]
        // RSS at each tenth of the run, to show the curve.
        for tenth in 1...10 {
            let target = appended * tenth / 10
            if let sample = samples.last(where: { $0.bytes <= target }) {
                figures["rss_at_\(tenth * 10)pct_MB"] = Double(sample.rss) / 1e6
            }
        }
        ResultsFile.append(benchmark: name, figures: figures)
    } setup: {
        prepared.set(
            try BenchmarkLog(
                name: name,
                topicConfig: [
                    "flush.policy": "never", "segment.bytes": String(settings.rssSegmentBytes),
                    "retention.bytes": String(settings.rssRetentionBytes),
                ]))
    } teardown: {
        await prepared.take()?.close()
    }
}

extension Double {
    /// Up to two decimals, trailing zeros dropped ("10", "0.25").
    var formatted2: String {
        let hundredths = Int((self * 100).rounded())
        let whole = hundredths / 100
        let fraction = hundredths % 100
        if fraction == 0 { return String(whole) }
        return fraction % 10 == 0 ? "\(whole).\(fraction / 10)" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
