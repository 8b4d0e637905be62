import Synchronization

/// Lets readers wait, without polling, until a log's high watermark passes an offset.
final class HighWatermarkWaiters: Sendable {
    private struct Waiter {
        var offset: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var highWatermark: Int64
        var closed = false
        var nextId: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Waits whose timeout or cancellation came before they registered.
        var expired: Set<UInt64> = []
    }

    private let state: Mutex<State>

    init(highWatermark: Int64) {
        state = Mutex(State(highWatermark: highWatermark))
    }

    /// Returns once the high watermark is above `offset`, the timeout passes, the task is
    /// cancelled or the log closes.
    func wait(beyond offset: Int64, timeout: Duration) async {
        let id = state.withLock { state -> UInt64? in
            if state.closed || state.highWatermark > offset { return nil }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.expired.remove(id) != nil { return true }
                    if state.closed || state.highWatermark > offset || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(offset: offset, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.resume(id)
        }
        timer.cancel()
        state.withLock { _ = $0.expired.remove(id) }
    }

    /// Ends wait `id` now; if it has not registered yet, it ends as soon as it does.
    private func resume(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.expired.insert(id)
                return nil
            }
            return waiter
        }
        waiter?.continuation.resume()
    }

    /// Publishes a new high watermark, waking every waiter it passes.
    func advance(to highWatermark: Int64) {
        let ready = state.withLock { state -> [Waiter] in
            state.highWatermark = highWatermark
            let ready = state.waiters.filter { $0.value.offset < highWatermark }
            for id in ready.keys { state.waiters.removeValue(forKey: id) }
            return Array(ready.values)
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Wakes everyone; later waits return at once.
    func close() {
        let all = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in all { waiter.continuation.resume() }
    }
}
