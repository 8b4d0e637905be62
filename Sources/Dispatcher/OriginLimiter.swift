import Synchronization

/// The shared concurrency limit per origin (scheme://host:port): every subscription whose
/// callback shares an origin draws from the same slots, so several subscriptions together never
/// open more than `limit` requests to one receiver.
final class OriginLimiter: Sendable {
    private struct Slots {
        var used = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    let limit: Int
    private let origins = Mutex<(slots: [String: Slots], nextWaiter: Int)>(([:], 0))

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot of `origin`, waiting for one; false when the task was cancelled while waiting.
    func acquire(_ origin: String) async -> Bool {
        let id = origins.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let granted = origins.withLock { state -> Bool in
                    var slots = state.slots[origin] ?? Slots()
                    defer { state.slots[origin] = slots }
                    if slots.used < limit && slots.waiters.isEmpty {
                        slots.used += 1
                        return true
                    }
                    slots.waiters.append((id, continuation))
                    return false
                }
                if granted { continuation.resume(returning: true) }
            }
        } onCancel: {
            let waiter = origins.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.slots[origin]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.slots[origin]?.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    /// Returns a slot, handing it to the next waiter if there is one.
    func release(_ origin: String) {
        let next = origins.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard var slots = state.slots[origin] else { return nil }
            defer { state.slots[origin] = slots.used == 0 && slots.waiters.isEmpty ? nil : slots }
            if !slots.waiters.isEmpty { return slots.waiters.removeFirst().continuation }
            slots.used -= 1
            return nil
        }
        next?.resume(returning: true)
    }

    /// Slots in use per origin (for metrics).
    var inUse: [String: Int] {
        origins.withLock { $0.slots.mapValues(\.used) }
    }
}
