import Synchronization

/// Latencies of a benchmark's measured iterations, for the percentiles in the results file
/// (the framework prints its own from the same iterations).
public final class LatencySamples: Sendable {
    private let samples = Mutex<[Duration]>([])

    public init() {
        samples.withLock { $0.reserveCapacity(1 << 20) }
    }

    public func add(_ latency: Duration) { samples.withLock { $0.append(latency) } }

    /// Every sample in microseconds, ascending.
    public var sortedMicroseconds: [Double] {
        samples.withLock { $0.map { $0.seconds * 1e6 } }.sorted()
    }

    /// The nearest-rank percentile `p` (0…1) of ascending `sorted` values.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
