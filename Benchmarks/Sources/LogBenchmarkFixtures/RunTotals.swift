import Synchronization

/// Totals over a benchmark's measured iterations (warmup excluded), for the aggregate figures
/// run.sh compares with fio: total work divided by total measured time.
public final class RunTotals: Sendable {
    public struct Snapshot: Sendable {
        public var iterations = 0
        public var appends = 0
        public var logBytes = 0
        public var elapsed: Duration = .zero
        /// Process CPU seconds (all threads) during the measured iterations.
        public var cpuSeconds = 0.0
        /// Extra figures a benchmark records (sync counts, latencies, RSS samples…).
        public var extra: [String: Double] = [:]

        public var seconds: Double {
            let (s, attoseconds) = elapsed.components
            return Double(s) + Double(attoseconds) / 1e18
        }
        public var events: Int { appends * EventBatches.recordsPerBatch }
        public var valueBytes: Int { EventBatches.valueBytes(appends: appends) }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func add(appends: Int = 0, logBytes: Int = 0, elapsed: Duration, cpuSeconds: Double = 0) {
        state.withLock {
            $0.iterations += 1
            $0.cpuSeconds += cpuSeconds
            $0.appends += appends
            $0.logBytes += logBytes
            $0.elapsed += elapsed
        }
    }

    public func set(_ key: String, _ value: Double) { state.withLock { $0.extra[key] = value } }

    /// Adds `value` to the extra figure `key`.
    public func accumulate(_ key: String, _ value: Double) { state.withLock { $0.extra[key, default: 0] += value } }

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func reset() { state.withLock { $0 = Snapshot() } }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
