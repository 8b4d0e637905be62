#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sizes and durations of the benchmarks, from the environment, so `make bench` can run a quick
/// pass (`HOOKLOG_BENCH_QUICK=1`) or a full one.
///
/// - `HOOKLOG_BENCH_QUICK=1`: small sizes and short runs, for trying the suite out.
/// - `HOOKLOG_BENCH_DIR`: where data directories go (default: `Benchmarks/.bench-data`, on the
///   same file system as the work tree); each benchmark removes its own afterwards.
/// - `HOOKLOG_BENCH_RESULTS`: a file each benchmark appends one JSON line of totals to (run.sh
///   reads it for its summary); unset, nothing is written.
/// - `HOOKLOG_BENCH_RSS_BYTES`: log bytes the RSS benchmark appends (default 10 GiB, 1 GiB quick).
public struct BenchmarkSettings: Sendable {
    public var quick: Bool
    /// Longest run of one append benchmark's measured iterations.
    public var appendDuration: Duration
    /// Log bytes the flush=never append benchmark writes at most (about fio's buffered-write size).
    public var neverFlushBytes: Int
    /// Size of the log the sequential-read benchmark scans.
    public var readLogBytes: Int
    /// Full passes over that log (each pass is one measured iteration).
    public var readPasses: Int
    /// Size of the log of the lookup benchmarks and the number of segments of the "many" variant.
    public var lookupLogBytes: Int
    public var lookupSegments: Int
    public var lookupDuration: Duration
    /// Log bytes the RSS benchmark appends with flush=never.
    public var rssBytes: Int
    /// `retention.bytes` and `segment.bytes` of the RSS benchmark's topic.
    public var rssRetentionBytes: Int
    public var rssSegmentBytes: Int
    /// Appends are refused below this much free space (LogOptions.minFreeBytes): a benchmark
    /// that would fill a shared disk fails with `disk_full` instead.
    public var minFreeBytes: Int64
    public var dataRoot: String
    public var resultsPath: String?

    public static let current = BenchmarkSettings(environment: Environment.variables)

    public init(environment: [String: String]) {
        let quick = environment["HOOKLOG_BENCH_QUICK"].map { $0 != "" && $0 != "0" } ?? false
        self.quick = quick
        appendDuration = quick ? .seconds(2) : .seconds(10)
        neverFlushBytes = quick ? 256 << 20 : 2 << 30
        readLogBytes = quick ? 128 << 20 : 1 << 30
        readPasses = quick ? 3 : 10
        lookupLogBytes = quick ? 64 << 20 : 256 << 20
        lookupSegments = 128
        lookupDuration = quick ? .seconds(2) : .seconds(5)
        rssBytes = environment["HOOKLOG_BENCH_RSS_BYTES"].flatMap { Int($0) } ?? (quick ? 1 << 30 : 10 << 30)
        rssRetentionBytes = quick ? 256 << 20 : 2 << 30
        rssSegmentBytes = quick ? 32 << 20 : 256 << 20
        minFreeBytes = 2 << 30
        dataRoot = environment["HOOKLOG_BENCH_DIR"] ?? Self.defaultDataRoot()
        resultsPath = environment["HOOKLOG_BENCH_RESULTS"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `Benchmarks/.bench-data` next to this package's sources.
    static func defaultDataRoot(file: String = #filePath) -> String {
        // …/Benchmarks/Sources/LogBenchmarkFixtures/BenchmarkSettings.swift → …/Benchmarks
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/.bench-data"
    }
}

/// The process environment as a dictionary (without Foundation).
enum Environment {
    static var variables: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
