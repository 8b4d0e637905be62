import Synchronization

/// Keeps the requests of one connection in arrival order up to the point where order matters
/// (a Produce's appends taking their place in the logs), while everything after that point —
/// waiting for fsync, long-poll fetches — runs concurrently.
final class RequestOrderGate: Sendable {
    private struct State {
        var next = 0
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Returns once every earlier request has passed the gate.
    func wait(for sequence: Int) async {
        // Usually it is this request's turn already: no suspension at all.
        if state.withLock({ $0.next == sequence }) { return }
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.next == sequence { return true }
                state.waiting[sequence] = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Lets the request after `sequence` through. Called exactly once per request.
    func pass(_ sequence: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.next = sequence + 1
            return state.waiting.removeValue(forKey: sequence + 1)
        }
        waiter?.resume()
    }
}

/// Passes one request through its gate once, however many times it is called.
final class GateRelease: Sendable {
    private let gate: RequestOrderGate
    private let sequence: Int
    private let done = Mutex(false)
    /// Arrivals still expected before the release (see ``arrive()``).
    private let remaining = Mutex(0)

    init(gate: RequestOrderGate, sequence: Int) {
        self.gate = gate
        self.sequence = sequence
    }

    func callAsFunction() {
        let first = done.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { gate.pass(sequence) }
    }

    /// Releases after `count` calls of ``arrive()`` (at once when `count` is 0).
    func expect(_ count: Int) {
        remaining.withLock { $0 = count }
        if count == 0 { self() }
    }

    func arrive() {
        let last = remaining.withLock { remaining -> Bool in
            remaining -= 1
            return remaining == 0
        }
        if last { self() }
    }
}
