import NIOCore

/// Runs Swift tasks on one NIO event loop's thread (a `TaskExecutor`, SE-0417).
///
/// A task that talks over a connection and prefers the connection's event loop
/// (`Task(executorPreference:)`) sends and receives without waking another thread: its writes
/// happen on the loop's thread, and a response resumes it there. The hub runs each Produce
/// request's task on its connection's loop, and `HubClient.taskExecutor` offers the same to
/// producers. Only work that never blocks belongs on an event loop: a Fetch (which reads
/// files) keeps the global pool.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
