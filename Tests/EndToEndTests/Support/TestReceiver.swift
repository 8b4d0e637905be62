import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP receiver for webhook tests: records every request it gets and answers 200.
final class TestReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]
    }

    let port: Int
    private let received: ReceiverLog
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, received: ReceiverLog, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.received = received
        self.group = group
        self.task = task
    }

    var requests: [Received] { received.all }

    /// Starts a receiver on `host` (port 0 picks one; give one to share a port across hosts).
    static func start(host: String, port: Int = 0) async throws -> TestReceiver {
        let box = ReceiverLog()
        let router = Router()
        router.post("/**") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            headers["host"] = request.head.authority
            box.append(Received(path: request.uri.path, headers: headers, body: Array(body.readableBytesView)))
            return Response(status: .ok)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test-receiver")
        logger.logLevel = .warning
        let application = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        let bound = await iterator.next() ?? 0
        return TestReceiver(port: bound, received: box, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// Shares the receiver's request log with its route handler.
private final class ReceiverLog: Sendable {
    private let log = Mutex<[TestReceiver.Received]>([])
    var all: [TestReceiver.Received] { log.withLock { $0 } }
    func append(_ received: TestReceiver.Received) { log.withLock { $0.append(received) } }
}
