import HubProtocol
import NIOCore
import Synchronization

/// One event loop of the Kafka listener: the executor its Produce tasks run on, and how many of
/// them are waiting to start.
///
/// A Produce may write its append on the event loop itself (`Log.append`'s `callerMayWrite`,
/// which blocks the loop for the fsync) only when nothing else waits for that loop: no other
/// request of its connection in flight and no other Produce queued on the loop. Otherwise the
/// partition's writer does it, and concurrent requests share its fsyncs.
final class LoopActivity: Sendable {
    let executor: EventLoopTaskExecutor
    /// Produce requests read on this loop whose task has not started yet.
    let producesWaiting = Atomic<Int>(0)

    init(_ eventLoop: any EventLoop) {
        executor = EventLoopTaskExecutor(eventLoop)
    }
}

/// The ``LoopActivity`` of each event loop of a group.
struct LoopActivities: Sendable {
    private let byLoop: [ObjectIdentifier: LoopActivity]

    init(_ group: any EventLoopGroup) {
        var byLoop: [ObjectIdentifier: LoopActivity] = [:]
        for loop in group.makeIterator() { byLoop[ObjectIdentifier(loop)] = LoopActivity(loop) }
        self.byLoop = byLoop
    }

    /// The activity of `eventLoop` (a new one for a loop outside the group, such as a test's).
    subscript(_ eventLoop: any EventLoop) -> LoopActivity {
        byLoop[ObjectIdentifier(eventLoop)] ?? LoopActivity(eventLoop)
    }
}

/// Requests of one connection in flight, and its loop's activity.
final class ConnectionActivity: Sendable {
    let requestsInFlight = Atomic<Int>(0)
    let loop: LoopActivity

    init(loop: LoopActivity) {
        self.loop = loop
    }

    /// Whether a Produce of this connection may write on the event loop (see ``LoopActivity``).
    var isAlone: Bool {
        requestsInFlight.load(ordering: .relaxed) == 1 && loop.producesWaiting.load(ordering: .relaxed) == 0
    }
}
