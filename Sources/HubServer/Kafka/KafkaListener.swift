import HubProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The TCP listener of the Kafka protocol.
final class KafkaListener: Sendable {
    struct Settings: Sendable {
        var host = "127.0.0.1"
        var port = 9092
        /// `max.request.bytes`: larger frames close the connection before they are buffered.
        var maxRequestBytes = 100 << 20
        /// Requests of one connection processed at once (responses still go out in order).
        var maxInFlightPerConnection = 16
        /// `connections.max.idle.ms`.
        var idleTimeout: TimeAmount = .minutes(10)
    }

    let channel: any Channel
    let logger: Logger
    /// Open client connections, for a graceful shutdown.
    private let connections: Connections

    final class Connections: Sendable {
        private let open = Mutex<[ObjectIdentifier: any Channel]>([:])
        func add(_ channel: any Channel) {
            open.withLock { $0[ObjectIdentifier(channel)] = channel }
            channel.closeFuture.whenComplete { _ in self.open.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) } }
        }
        var all: [any Channel] { open.withLock { Array($0.values) } }
    }

    /// The bound address (the real port when 0 was asked for).
    var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel, logger: Logger, connections: Connections) {
        self.channel = channel
        self.logger = logger
        self.connections = connections
    }

    static func start(
        settings: Settings, processor: any KafkaRequestProcessor, group: any EventLoopGroup, logger: Logger
    ) async throws -> KafkaListener {
        let connections = Connections()
        let loops = LoopActivities(group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(allTimeout: settings.idleTimeout),
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: settings.maxRequestBytes)),
                        KafkaConnectionHandler(
                            processor: processor, maxInFlight: settings.maxInFlightPerConnection, loop: loops[channel.eventLoop], logger: logger)
                    )
                }
            }
        let channel = try await bootstrap.bind(host: settings.host, port: settings.port).get()
        return KafkaListener(channel: channel, logger: logger, connections: connections)
    }

    /// Stops accepting connections, lets every connection answer the requests it has read,
    /// then closes them (forcibly after `grace`).
    func close(grace: Duration = .seconds(5)) async {
        try? await channel.close()
        let open = connections.all
        for connection in open {
            connection.pipeline.fireUserInboundEventTriggered(KafkaConnectionHandler.Drain())
        }
        let deadline = ContinuousClock.now + grace
        for connection in open {
            while connection.isActive && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            try? await connection.close()
        }
    }
}
