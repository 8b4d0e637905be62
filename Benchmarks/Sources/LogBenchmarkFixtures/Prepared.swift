import Synchronization

/// A value a benchmark's setup prepares and its measured closure and teardown use (the log
/// under test, precomputed inputs). The framework runs setup, iterations and teardown one after
/// another, so the lock is never contended.
public final class Prepared<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    public init() {}

    /// Stores the prepared value (setup).
    public func set(_ newValue: Value?) { value.withLock { $0 = newValue } }

    /// The prepared value; traps if setup did not run.
    public var get: Value {
        guard let current = value.withLock({ $0 }) else { fatalError("benchmark setup did not run") }
        return current
    }

    /// Takes the value out (teardown).
    public func take() -> Value? { value.withLock { current in defer { current = nil }; return current } }
}
