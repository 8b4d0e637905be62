import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The HTTP API's listener: a Hummingbird application run in its own service group, so the hub
/// can start it, learn its bound address, and stop it gracefully (in-flight requests finish).
final class HTTPListener: Sendable {
    /// The bound address (port 0 picks a free one).
    let localAddress: SocketAddress?
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(localAddress: SocketAddress?, group: ServiceGroup, task: Task<Void, any Error>) {
        self.localAddress = localAddress
        self.group = group
        self.task = task
    }

    /// Binds and starts serving; returns once the socket is listening.
    /// - Throws: when the address cannot be bound.
    static func start(
        host: String, port: Int, router: Router<HubRequestContext>, idleTimeout: Duration, logger: Logger
    ) async throws -> HTTPListener {
        let started = StartSignal()
        var http1 = HTTP1Channel.Configuration()
        http1.idleTimeout = .nanoseconds(
            Int64(idleTimeout.components.seconds) * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000)
        var httpLogger = logger
        httpLogger[metadataKey: "listener"] = "http"
        let application = Application(
            router: router, server: .http1(configuration: http1),
            configuration: .init(address: .hostname(host, port: port), serverName: "hooklog"),
            onServerRunning: { channel in started.resolve(.success(channel.localAddress)) },
            logger: httpLogger)
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: httpLogger))
        let task = Task {
            do {
                try await group.run()
                started.resolve(.failure(HTTPListenerError(message: "the HTTP listener stopped before it started")))
            } catch {
                started.resolve(.failure(error))
                throw error
            }
        }
        do {
            let address = try await started.wait()
            return HTTPListener(localAddress: address, group: group, task: task)
        } catch {
            task.cancel()
            throw HTTPListenerError(message: "cannot listen for HTTP on \(host):\(port): \(error)")
        }
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    func close() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// The HTTP listener could not start.
struct HTTPListenerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A one-shot result shared between the server's start callback and the starter.
private final class StartSignal: Sendable {
    private struct State {
        var result: Result<SocketAddress?, any Error>?
        var waiter: CheckedContinuation<SocketAddress?, any Error>?
    }

    private let state = Mutex(State())

    func resolve(_ result: Result<SocketAddress?, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<SocketAddress?, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func wait() async throws -> SocketAddress? {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<SocketAddress?, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
