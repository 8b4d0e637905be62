import HubProtocol
import Logging
import NIOCore
import NIOPosix

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

    /// The bound address (the real port when 0 was asked for).
    var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel, logger: Logger) {
        self.channel = channel
        self.logger = logger
    }

    static func start(
        settings: Settings, processor: any KafkaRequestProcessor, group: any EventLoopGroup, logger: Logger
    ) async throws -> KafkaListener {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(allTimeout: settings.idleTimeout),
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: settings.maxRequestBytes)),
                        KafkaConnectionHandler(
                            processor: processor, maxInFlight: settings.maxInFlightPerConnection, logger: logger)
                    )
                }
            }
        let channel = try await bootstrap.bind(host: settings.host, port: settings.port).get()
        return KafkaListener(channel: channel, logger: logger)
    }

    /// Stops accepting connections.
    func close() async {
        try? await channel.close()
    }
}
