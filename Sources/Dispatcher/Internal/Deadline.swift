import Synchronization

/// Runs `operation` and returns its result, or `nil` when it has not finished within `timeout`.
///
/// Unlike a task group, this returns at the deadline even when `operation` ignores cancellation
/// (a blocking `getaddrinfo` on a thread pool cannot be interrupted): the operation is cancelled
/// and left to finish in the background, and its result is dropped.
/// - Throws: the operation's error, or `CancellationError` when the calling task is cancelled.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T?, any Error>) in
            race.start(continuation)
            race.add(
                Task {
                    do {
                        race.finish(.success(try await operation()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
            )
            race.add(
                Task {
                    // A cancelled sleep means the race is already over.
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    race.finish(.success(nil))
                }
            )
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The shared state of one ``withDeadline(_:_:)`` call: whoever finishes first resumes the
/// continuation and cancels the other tasks; later finishers find it gone.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T?, any Error>?
        var finished = false
        var pending: Result<T?, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T?, any Error>) {
        let early: Result<T?, any Error>? = state.withLock { state in
            if let pending = state.pending { return pending }  // cancelled before we got here
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func add(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { state in
            if state.finished { return true }
            state.tasks.append(task)
            return false
        }
        if cancelNow { task.cancel() }
    }

    func finish(_ result: Result<T?, any Error>) {
        let (continuation, tasks): (CheckedContinuation<T?, any Error>?, [Task<Void, Never>]) = state.withLock {
            state in
            guard !state.finished else { return (nil, []) }
            state.finished = true
            defer { state.tasks = [] }
            guard let continuation = state.continuation else {
                state.pending = result
                return (nil, state.tasks)
            }
            state.continuation = nil
            return (continuation, state.tasks)
        }
        continuation?.resume(with: result)
        for task in tasks { task.cancel() }
    }
}
