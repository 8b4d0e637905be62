import NIOConcurrencyHelpers
import NIOCore

/// Token buckets per API key: each key earns `rate` tokens a second up to `burst`, and each
/// request spends one.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// The server-wide default rate (requests per second; 0 = unlimited) and bucket size.
    let rate: Double
    let burst: Double
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// Spends a token of `key`'s bucket; nil when allowed, else the seconds until a token is due.
    /// - Parameter rate: the key's own rate when it has one, else the default applies.
    func take(key: String, rate keyRate: Double?) -> Double? {
        let rate = keyRate ?? self.rate
        guard rate > 0 else { return nil }
        let capacity = max(1, burst > 0 && keyRate == nil ? burst : rate)
        let now = ContinuousClock.now
        return buckets.withLockedValue { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * rate)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}
