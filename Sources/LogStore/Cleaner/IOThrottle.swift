import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A token bucket over bytes of I/O: callers report what they read or wrote and are slowed
/// down to `bytesPerSecond` on average (bursts up to a tenth of a second's worth pass at once).
/// One throttle can be shared by every background task so that together they stay under the cap.
public final class IOThrottle: Sendable {
    public let bytesPerSecond: Int64
    /// (tokens available, last refill in ns since boot)
    private let bucket: Mutex<(tokens: Double, refilled: UInt64)>

    public init(bytesPerSecond: Int64) {
        precondition(bytesPerSecond > 0, "an I/O cap must be positive")
        self.bytesPerSecond = bytesPerSecond
        self.bucket = Mutex((Double(bytesPerSecond) / 10, DispatchTime.now().uptimeNanoseconds))
    }

    /// Takes `bytes` from the bucket; returns how long the caller must wait to stay under the cap.
    func charge(_ bytes: Int) -> Duration {
        let rate = Double(bytesPerSecond)
        return bucket.withLock { bucket in
            let now = DispatchTime.now().uptimeNanoseconds
            let elapsed = Double(now &- bucket.refilled) / 1e9
            bucket.tokens = min(rate / 10, bucket.tokens + elapsed * rate) - Double(bytes)
            bucket.refilled = now
            guard bucket.tokens < 0 else { return .zero }
            return .nanoseconds(Int64(-bucket.tokens / rate * 1e9))
        }
    }

    /// Charges `bytes` and sleeps the thread as needed (for blocking I/O code).
    func consumeBlocking(_ bytes: Int) {
        let wait = charge(bytes)
        guard wait > .zero else { return }
        let (seconds, attoseconds) = wait.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// Charges `bytes` and sleeps the task as needed.
    public func consume(_ bytes: Int) async throws {
        let wait = charge(bytes)
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}
