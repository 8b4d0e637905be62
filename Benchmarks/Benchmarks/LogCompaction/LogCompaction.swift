import Benchmark
import Foundation
import LogBenchmarkFixtures
import LogStore
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

// Compaction throughput: a ~1 GiB compacted log (1 KiB values, 64 MiB segments) where every key
// was written ten times, so 10 % of the records are live; one full `Log.compact` is one
// iteration, read from disk (the segments' pages are dropped from the page cache first).
// run.sh compares MB/s scanned with fio's sequential direct read and MB/s written with fio's
// sequential buffered write measured in the same run. The cleaner's map memory (allocated and
// used) and the process's RSS growth are recorded against the configured map size.

enum CompactionMetric {
    static let scannedMBps = BenchmarkMetric.custom("scanned MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let writtenMBps = BenchmarkMetric.custom("written MB/s", polarity: .prefersLarger, useScalingFactor: false)
}

/// The log, and the records it was filled with (every key written `versions` times).
struct CompactionFixture: Sendable {
    var log: BenchmarkLog
    var records: Int
    var keys: Int
}

let benchmarks: @Sendable () -> Void = {
    let settings = BenchmarkSettings.current
    let logBytes = settings.quick ? 128 << 20 : 1 << 30
    let mapBytes = 64 << 20
    let name = "Compaction \(logBytes >> 20) MiB log 10% live keys map=\(mapBytes >> 20)MiB"
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, CompactionMetric.scannedMBps, CompactionMetric.writtenMBps, .peakMemoryResident],
        timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(600),
        maxIterations: 1)
    let prepared = Prepared<CompactionFixture>()

    Benchmark(name, configuration: configuration) { benchmark in
        let fixture = prepared.get
        let rssBefore = ResidentMemory.current()
        let report = try await fixture.log.log.compact(CompactionOptions(mapBytes: mapBytes))
        let rssAfter = ResidentMemory.current()
        let seconds = Double(report.duration.components.seconds) + Double(report.duration.components.attoseconds) / 1e18
        let scanned = Double(report.bytesScanned) / seconds / 1e6
        let written = Double(report.bytesWritten) / seconds / 1e6
        benchmark.measurement(CompactionMetric.scannedMBps, Int(scanned))
        benchmark.measurement(CompactionMetric.writtenMBps, Int(written))
        print(
            "compaction: \(report.bytesBefore) → \(report.bytesAfter) bytes, segments \(report.segmentsBefore) → "
                + "\(report.segmentsAfter), \(report.recordsKept) kept, \(report.recordsRemoved) removed, "
                + "\(report.passes) pass(es), \(String(format: "%.2f", seconds)) s, scanned \(Int(scanned)) MB/s, "
                + "written \(Int(written)) MB/s, map \(report.mapEntriesPeak) entries in \(report.mapBytesAllocated) bytes")
        ResultsFile.append(
            benchmark: name,
            figures: [
                "log_bytes": Double(report.bytesBefore), "bytes_after": Double(report.bytesAfter),
                "records": Double(fixture.records), "keys": Double(fixture.keys),
                "records_kept": Double(report.recordsKept), "passes": Double(report.passes),
                "seconds": seconds, "bytes_scanned": Double(report.bytesScanned),
                "bytes_written": Double(report.bytesWritten), "scanned_MBps": scanned, "written_MBps": written,
                "map_bytes_configured": Double(mapBytes), "map_bytes_allocated": Double(report.mapBytesAllocated),
                "map_entries_peak": Double(report.mapEntriesPeak),
                "map_bytes_used": Double(report.mapEntriesPeak * 24),
                "rss_growth_bytes": Double(max(0, rssAfter - rssBefore)),
            ])
    } setup: {
        let log = try BenchmarkLog(
            name: name,
            topicConfig: ["cleanup.policy": "compact", "segment.bytes": String(64 << 20), "flush.policy": "never"])
        let valueBytes = 1000
        let recordsPerBatch = 16
        let records = logBytes / (valueBytes + 30)
        let keys = records / 10
        var appended = 0
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        while appended < records {
            var builder = RecordBatchBuilder()
            for i in 0..<recordsPerBatch {
                let key = Array("key-\((appended + i) % keys)".utf8)
                builder.append(key: key, value: value, headers: [], timestamp: 1_700_000_000_000 + Int64(appended + i))
            }
            _ = try await log.log.append(try builder.build())
            appended += recordsPerBatch
        }
        try await log.log.flush()
        // Drop the segments from the page cache: the cleaner reads from disk, as fio's direct read does.
        for name in try FileManager.default.contentsOfDirectory(atPath: log.directory + "/bench-0") where name.hasSuffix(".log") {
            let fd = open(log.directory + "/bench-0/" + name, O_RDONLY)
            if fd >= 0 {
                _ = fdatasync(fd)
                _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
                close(fd)
            }
        }
        prepared.set(CompactionFixture(log: log, records: appended, keys: keys))
    } teardown: {
        await prepared.take()?.log.close()
    }
}
