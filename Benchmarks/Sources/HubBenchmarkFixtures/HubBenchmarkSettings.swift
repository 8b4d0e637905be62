import Foundation
import LogBenchmarkFixtures

/// Sizes and durations of the protocol benchmarks (on top of ``BenchmarkSettings``).
///
/// - `HOOKLOG_BENCH_IN_FLIGHT`: produce requests in flight per connection (default 8).
/// - `HOOKLOG_BIN`: the hooklog executable the benchmarks start (see ``HubProcess/executable``).
public struct HubBenchmarkSettings: Sendable {
    public var base: BenchmarkSettings
    /// Connection counts of the closed-loop produce benchmarks.
    public var connectionCounts: [Int]
    /// Concurrent produce tasks per connection (a pipelining producer).
    public var inFlightPerConnection: Int
    /// In-flight counts the closed-loop runs use: the pipelining producer's, and 1 (one request
    /// at a time per connection: the same concurrency as LogAppend's appenders).
    public var inFlightVariants: [Int] {
        inFlightPerConnection == 1 ? [1] : [inFlightPerConnection, 1]
    }
    /// Measured time of one produce benchmark, cut into iterations of ``iterationDuration``.
    public var produceDuration: Duration
    public var iterationDuration: Duration
    /// The rate-limited runs' loads as fractions of the peak events/s, with their names.
    public var loadFractions: [(Double, String)]
    /// Size of the topic the replay benchmark fetches from offset 0, passes over it and the
    /// fetch size.
    public var replayLogBytes: Int
    public var replayPasses: Int
    public var fetchMaxBytes: Int32

    public static let current = HubBenchmarkSettings(base: .current, environment: ProcessInfo.processInfo.environment)

    public init(base: BenchmarkSettings, environment: [String: String]) {
        self.base = base
        connectionCounts = [1, 4, 16]
        inFlightPerConnection = environment["HOOKLOG_BENCH_IN_FLIGHT"].flatMap { Int($0) }.map { max(1, $0) } ?? 8
        produceDuration = base.quick ? .seconds(2) : .seconds(10)
        iterationDuration = base.quick ? .milliseconds(500) : .seconds(1)
        loadFractions = [(0.5, "half"), (0.25, "a quarter")]
        replayLogBytes = base.readLogBytes
        replayPasses = base.readPasses
        fetchMaxBytes = 8 << 20
    }

    /// A fresh data directory path for a benchmark (not yet created).
    public func dataDirectory(for name: String) -> String {
        let safeName = String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        return "\(base.dataRoot)/\(safeName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Entries of the results file written so far in this run (by earlier benchmarks), by name.
    public func earlierResults() -> [String: [String: Any]] {
        guard let path = base.resultsPath, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return [:]
        }
        var results: [String: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let name = object["benchmark"] as? String
            else { continue }
            results[name] = object
        }
        return results
    }
}
