import Synchronization

/// Latencies of a benchmark's measured iterations, for the percentiles in the results file
/// (the framework prints its own from the same iterations).
public final class LatencySamples: Sendable {
    private let samples = Mutex<[Duration]>([])

    public init(capacity: Int = 1 << 20) {
        samples.withLock { $0.reserveCapacity(capacity) }
    }

    public func add(_ latency: Duration) { samples.withLock { $0.append(latency) } }

    /// Adds every sample of `other` (e.g. one iteration's samples to the run's).
    public func add(contentsOf other: LatencySamples) {
        let copied = other.samples.withLock { $0 }
        samples.withLock { $0.append(contentsOf: copied) }
    }

    public var count: Int { samples.withLock { $0.count } }

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
