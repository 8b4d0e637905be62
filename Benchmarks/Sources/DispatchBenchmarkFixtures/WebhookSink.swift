import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// The webhook receiver of the dispatch benchmarks: an in-process Hummingbird 2 server on
/// 127.0.0.1 (a free port) that answers every request `204 No Content` at once. For each request
/// it reads the send timestamp at its fixed place in the body (``JSONEvents``) and stores
/// `arrival − sent` in a preallocated ring, indexed by an atomic arrival counter: no allocation
/// of its own per request (Hummingbird's request and response values aside).
public final class WebhookSink: Sendable {
    public let port: Int
    private let state: SinkState
    private let task: Task<Void, any Error>

    private init(port: Int, state: SinkState, task: Task<Void, any Error>) {
        self.port = port
        self.state = state
        self.task = task
    }

    /// Requests received so far.
    public var arrivals: Int { state.arrivals.load(ordering: .acquiring) }

    public func url(path: String = "/hook") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Starts the server; returns once it listens.
    public static func start(ringCapacity: Int = 1 << 21) async throws -> WebhookSink {
        let state = SinkState(capacity: ringCapacity)
        let started = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "webhook-sink")
        logger.logLevel = .critical  // (cancelling it at the end logs an error per open connection)
        let application = Application(
            responder: SinkResponder(state: state), server: .http1(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in
                started.continuation.yield(channel.localAddress?.port ?? 0)
                started.continuation.finish()
            },
            logger: logger)
        let task = Task {
            defer { started.continuation.finish() }
            try await application.run()
        }
        var iterator = started.stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            _ = await task.result
            throw DispatchBenchmarkError("the webhook sink did not start")
        }
        return WebhookSink(port: port, state: state, task: task)
    }

    /// Delivery latencies (arrival − embedded send time) of arrivals `range` (arrival numbers
    /// from 0), in microseconds, ascending; requests without a send time are left out. Read
    /// once those requests have been answered (the slot is written just after the count).
    public func latenciesMicroseconds(arrivals range: Range<Int>) -> [Double] {
        precondition(range.count <= state.capacity, "more arrivals than the ring holds")
        var result: [Double] = []
        result.reserveCapacity(range.count)
        for i in range {
            let nanoseconds = state.ring[i & state.mask]
            if nanoseconds >= 0 { result.append(Double(nanoseconds) / 1e3) }
        }
        return result.sorted()
    }

    /// Stops the server (cancels it; open connections are closed).
    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}

public struct DispatchBenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The counter and the ring of latencies (nanoseconds; -1 = no send time in the body).
final class SinkState: Sendable {
    let arrivals = Atomic<Int>(0)
    let capacity: Int
    let mask: Int
    nonisolated(unsafe) let ring: UnsafeMutablePointer<Int64>

    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "a power of two")
        self.capacity = capacity
        mask = capacity - 1
        ring = .allocate(capacity: capacity)
        ring.initialize(repeating: -1, count: capacity)
    }

    deinit { ring.deallocate() }

    @inline(__always)
    func record(sentNanoseconds: Int64) {
        let now = monotonicNanoseconds()
        let index = arrivals.wrappingAdd(1, ordering: .relaxed).oldValue
        ring[index & mask] = sentNanoseconds > 0 ? now - sentNanoseconds : -1
    }
}

struct SinkResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let state: SinkState

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        // The 19 digits at bytes 12..<31 of the body, across however many chunks it came in.
        var position = 0
        var sent: Int64 = 0
        var valid = true
        let first = JSONEvents.timestampOffset
        let end = first + JSONEvents.timestampDigits
        for try await chunk in request.body {
            if position < end {
                chunk.withUnsafeReadableBytes { bytes in
                    for (i, byte) in bytes.enumerated() {
                        let at = position + i
                        if at >= end { break }
                        if at < first { continue }
                        if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                            sent = sent &* 10 &+ Int64(byte &- UInt8(ascii: "0"))
                        } else {
                            valid = false
                        }
                    }
                }
            }
            position += chunk.readableBytes
        }
        state.record(sentNanoseconds: valid && position >= end ? sent : 0)
        return Response(status: .noContent)
    }
}
