import Foundation
import HubClient
import HubProtocol
import HubServer
import LogStore
import NIOCore
import NIOPosix

/// A hub running in this process on a free port, with its data in a fresh temporary directory.
struct TestHub {
    let hub: Hub
    let directory: String

    var port: Int { hub.kafkaAddress.port }
    var bootstrap: String { "127.0.0.1:\(port)" }

    /// Runs `body` against a fresh hub, then shuts it down and removes its data.
    static func with<T>(
        partitions: Int = 1, _ configure: (inout Hub.Configuration) -> Void = { _ in },
        _ body: (TestHub) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("hooklog-client-\(UUID().uuidString)").path
        var storage = LogManager.Configuration(dataDirectory: directory)
        storage.options.minFreeBytes = 0
        storage.defaultPartitions = partitions
        var configuration = Hub.Configuration(storage: storage)
        configuration.kafkaPort = 0
        configuration.httpPort = 0
        configure(&configuration)
        let hub = try await Hub.start(configuration)
        let running = TestHub(hub: hub, directory: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let result = try await body(running)
            await hub.shutdown()
            return result
        } catch {
            await hub.shutdown()
            throw error
        }
    }

    /// A client connected to this hub.
    func connect(requestTimeout: Duration = .seconds(30)) async throws -> HubClient {
        var configuration = HubClient.Configuration(clientId: "tests")
        configuration.requestTimeout = requestTimeout
        return try await HubClient.connect(host: "127.0.0.1", port: port, configuration: configuration)
    }
}

/// A scripted Kafka broker for what a real hub cannot show: a KIP-511 ApiVersions fallback,
/// silence (timeouts) and responses out of request order.
final class FakeBroker: Sendable {
    enum Behavior: Sendable {
        /// Knows only ApiVersions v0: answers newer versions with UNSUPPORTED_VERSION in v0 format.
        case apiVersionsV0Only
        /// Answers ApiVersions, then nothing else.
        case silent
        /// Holds requests two at a time and answers each pair in reverse order.
        case reversePairs
    }

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(_ behavior: Behavior) async throws -> FakeBroker {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20)),
                        FakeBrokerHandler(behavior: behavior))
                }
            }
        return FakeBroker(channel: try await bootstrap.bind(host: "127.0.0.1", port: 0).get())
    }

    func stop() async {
        try? await channel.close()
    }
}

/// The per-connection side of ``FakeBroker``.
private final class FakeBrokerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let behavior: FakeBroker.Behavior
    private var held: [(RequestHeader, ByteBuffer)] = []

    init(behavior: FakeBroker.Behavior) { self.behavior = behavior }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let header = try? RequestHeader(from: &frame) else { return context.close(promise: nil) }
        if header.requestApiKey == ApiVersionsRequest.apiKey {
            var response = ApiVersionsResponse()
            let known: [(Int16, ClosedRange<Int16>)] =
                behavior == .apiVersionsV0Only
                ? [(ApiVersionsRequest.apiKey, 0...0), (MetadataRequest.apiKey, 0...12)]
                : [(ApiVersionsRequest.apiKey, 0...3), (MetadataRequest.apiKey, 0...12)]
            response.apiKeys = known.map {
                ApiVersionsResponse.ApiVersion(apiKey: $0.0, minVersion: $0.1.lowerBound, maxVersion: $0.1.upperBound)
            }
            var version = header.requestApiVersion
            if behavior == .apiVersionsV0Only && version > 0 {
                response.errorCode = ErrorCode.unsupportedVersion.rawValue
                version = 0
            }
            send(header, version: version, response, context: context)
            return
        }
        switch behavior {
        case .silent:
            return
        case .apiVersionsV0Only:
            answerMetadata(header, &frame, context: context)
        case .reversePairs:
            held.append((header, frame))
            if held.count == 2 {
                for (header, var body) in held.reversed() { answerMetadata(header, &body, context: context) }
                held.removeAll()
            }
        }
    }

    /// Answers a Metadata request naming the topics it asked for.
    private func answerMetadata(_ header: RequestHeader, _ body: inout ByteBuffer, context: ChannelHandlerContext) {
        guard header.requestApiKey == MetadataRequest.apiKey,
            let request = try? MetadataRequest(from: &body, version: header.requestApiVersion)
        else { return context.close(promise: nil) }
        var response = MetadataResponse()
        response.brokers = [MetadataResponse.MetadataResponseBroker(nodeId: 7, host: "fake", port: 1)]
        response.topics = (request.topics ?? []).map { topic in
            var entry = MetadataResponse.MetadataResponseTopic()
            entry.name = topic.name
            entry.partitions = [MetadataResponse.MetadataResponsePartition(partitionIndex: 0, leaderId: 7)]
            return entry
        }
        send(header, version: header.requestApiVersion, response, context: context)
    }

    private func send<Response: KafkaResponse>(
        _ header: RequestHeader, version: Int16, _ response: Response, context: ChannelHandlerContext
    ) {
        var body = context.channel.allocator.buffer(capacity: 256)
        body.writeInteger(header.correlationId)
        if ApiKeys.responseHeaderVersion(apiKey: Response.apiKey, apiVersion: version) >= 1 {
            body.writeInteger(UInt8(0))
        }
        response.encode(to: &body, version: version)
        var frame = context.channel.allocator.buffer(capacity: 4)
        frame.writeInteger(Int32(body.readableBytes))
        frame.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}
