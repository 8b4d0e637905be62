import Foundation
import HubBenchmarkFixtures
import LogBenchmarkFixtures

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sizes and durations of the dispatch benchmarks (HubDispatch), on top of
/// ``HubBenchmarkSettings``. `HOOKLOG_BENCH_QUICK=1` shortens every run.
public struct DispatchBenchmarkSettings: Sendable {
    public var hub: HubBenchmarkSettings
    public var quick: Bool { hub.base.quick }
    /// Measured time of one throughput benchmark (after one warm-up iteration).
    public var throughputDuration: Duration
    /// Measured time of one latency benchmark (open loop; each iteration also waits for the
    /// iteration's events to be delivered before the next starts).
    public var latencyDuration: Duration
    /// Measured time of one direct (async-http-client → sink) benchmark.
    public var directDuration: Duration
    public var iterationDuration: Duration
    /// Events produced before the subscriptions are created (the backlog the Dispatcher drains),
    /// and the lag below which the benchmark produces more (so the Dispatcher never runs dry).
    public var backlogEvents: Int
    public var topUpBelowEvents: Int
    /// The latency runs' load as a fraction of the same configuration's peak deliveries/s.
    public var latencyLoadFraction: Double
    /// `hooklog serve --origin-concurrency`.
    public var originConcurrency: Int

    public static let current = DispatchBenchmarkSettings(hub: .current)

    public init(hub: HubBenchmarkSettings) {
        self.hub = hub
        let quick = hub.base.quick
        throughputDuration = quick ? .seconds(2) : .seconds(8)
        latencyDuration = quick ? .seconds(2) : .seconds(8)
        directDuration = quick ? .seconds(2) : .seconds(5)
        iterationDuration = quick ? .milliseconds(500) : .seconds(1)
        backlogEvents = quick ? 60_000 : 200_000
        topUpBelowEvents = 30_000
        latencyLoadFraction = 0.5
        originConcurrency = 64
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of the send timestamps embedded in the events and
/// of the sink's arrival times (same process, same clock).
@inline(__always)
public func monotonicNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}
