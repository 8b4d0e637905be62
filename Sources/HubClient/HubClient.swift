import HubProtocol
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An async client of the Kafka protocol for one broker connection (Hooklog or any Kafka broker).
///
/// One instance owns one TCP connection. Calls may be made from any number of tasks at once:
/// their requests are pipelined on the connection and matched to responses by correlation id.
/// Every call throws ``HubClientError`` (or `CancellationError` when its task is cancelled).
public final class HubClient: Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        /// The client id sent in every request header (brokers log it).
        public var clientId: String
        /// How long `connect` waits for the TCP connection.
        public var connectTimeout: Duration = .seconds(10)
        /// How long a request waits for its response (a fetch also gets its `maxWait` on top).
        public var requestTimeout: Duration = .seconds(30)
        /// Largest response frame accepted; bigger ones close the connection.
        public var maxResponseBytes: Int = 256 << 20
        public var logger = Logger(label: "hooklog.client")

        public init(clientId: String = "hooklog") {
            self.clientId = clientId
        }
    }

    /// The versions of each API (by key) this client speaks; ApiVersions is negotiated apart.
    public static let supportedVersions: [Int16: ClosedRange<Int16>] = [
        ProduceRequest.apiKey: 3...11,  // 3 is the first with RecordBatch v2
        FetchRequest.apiKey: 4...12,  // 13+ name topics by id only
        ListOffsetsRequest.apiKey: 1...10,
        MetadataRequest.apiKey: 1...12,
        CreateTopicsRequest.apiKey: 2...7,
        DeleteTopicsRequest.apiKey: 1...6,
        DescribeConfigsRequest.apiKey: 1...4,
        ListGroupsRequest.apiKey: 0...5,
        DescribeGroupsRequest.apiKey: 0...5,
        OffsetFetchRequest.apiKey: 1...8,
    ]

    /// The broker's address as given to `connect`.
    public let host: String
    public let port: Int
    public let configuration: Configuration
    /// The version used for each API (by key): the highest both sides speak.
    public let negotiatedVersions: [Int16: Int16]
    /// What the broker advertised in ApiVersions (by API key).
    public let brokerVersions: [Int16: ClosedRange<Int16>]
    let connection: Connection

    /// An executor that runs tasks on this connection's event loop. A task that sends many
    /// requests (a producer loop) and prefers it — `Task(executorPreference: client.taskExecutor)`
    /// or `group.addTask(executorPreference:)` — writes each request and is resumed by each
    /// response on that one thread, saving two thread hand-offs per request. Keep blocking work
    /// out of such tasks: it would stall the connection.
    public var taskExecutor: any TaskExecutor { connection.executor }

    private init(
        host: String, port: Int, configuration: Configuration, connection: Connection,
        brokerVersions: [Int16: ClosedRange<Int16>]
    ) {
        self.host = host
        self.port = port
        self.configuration = configuration
        self.connection = connection
        self.brokerVersions = brokerVersions
        self.negotiatedVersions = Self.negotiate(broker: brokerVersions)
    }

    /// Connects to a broker and negotiates API versions.
    /// - Throws: `HubClientError` `.connectFailed` when the broker cannot be reached.
    public static func connect(host: String, port: Int, clientId: String = "hooklog") async throws -> HubClient {
        try await connect(host: host, port: port, configuration: Configuration(clientId: clientId))
    }

    /// Connects to a broker with explicit settings and negotiates API versions: ApiVersions v3,
    /// or v0 when the broker answers v3 with UNSUPPORTED_VERSION.
    public static func connect(host: String, port: Int, configuration: Configuration) async throws -> HubClient {
        let maxResponseBytes = configuration.maxResponseBytes
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxResponseBytes)),
                        ResponseRouter()
                    )
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw HubClientError(
                .connectFailed,
                "cannot connect to \(host):\(port): \(Self.reason(error, timeout: configuration.connectTimeout)) "
                    + "(is the hub running and listening there?)")
        }
        let connection = Connection(
            channel: channel, clientId: configuration.clientId,
            requestTimeout: TimeAmount(configuration.requestTimeout))
        do {
            let versions = try await connection.apiVersions()
            configuration.logger.debug(
                "connected", metadata: ["broker": "\(host):\(port)", "apis": "\(versions.count)"])
            return HubClient(
                host: host, port: port, configuration: configuration, connection: connection,
                brokerVersions: versions)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Closes the connection; requests still waiting fail with `.connectionClosed`.
    public func close() async {
        try? await connection.channel.close()
    }

    /// A short reason for a failed connection attempt.
    private static func reason(_ error: any Error, timeout: Duration) -> String {
        var error = error
        if let failure = error as? NIOConnectionError {
            if let dns = failure.dnsAError ?? failure.dnsAAAAError { return "cannot resolve the host: \(dns)" }
            if let first = failure.connectionErrors.first { error = first.error }
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if case ChannelError.connectTimeout = error { return "no connection within \(timeout)" }
        return "\(error)"
    }

    /// For each API both sides know, the highest version in both ranges.
    static func negotiate(broker: [Int16: ClosedRange<Int16>]) -> [Int16: Int16] {
        var result: [Int16: Int16] = [:]
        for (key, ours) in supportedVersions {
            guard let theirs = broker[key] else { continue }
            let high = min(ours.upperBound, theirs.upperBound)
            if high >= max(ours.lowerBound, theirs.lowerBound) { result[key] = high }
        }
        return result
    }

    /// The negotiated version of `Request`'s API.
    /// - Throws: `.unsupportedVersion` when the broker and the client share no version.
    func version<Request: KafkaRequest>(of request: Request.Type) throws -> Int16 {
        if let version = negotiatedVersions[Request.apiKey] { return version }
        let name = ApiKeys(rawValue: Request.apiKey)?.name ?? "API \(Request.apiKey)"
        let theirs = brokerVersions[Request.apiKey].map { "versions \($0.lowerBound)-\($0.upperBound)" } ?? "no version"
        let ours = Self.supportedVersions[Request.apiKey].map { "\($0.lowerBound)-\($0.upperBound)" } ?? "none"
        throw HubClientError(
            .unsupportedVersion, "the broker supports \(theirs) of \(name); this client speaks \(ours)")
    }

    /// Sends `request` at the negotiated version and decodes its response.
    func send<Request: KafkaRequest>(_ request: Request, extraTimeout: Duration = .zero, sizeHint: Int = 256)
        async throws -> Request.Response
    {
        let version = try version(of: Request.self)
        return try await connection.send(request, version: version, extraTimeout: extraTimeout, sizeHint: sizeHint)
    }

    /// The request timeout in whole milliseconds, for the `timeoutMs` fields of requests.
    var timeoutMilliseconds: Int32 {
        let components = configuration.requestTimeout.components
        return Int32(clamping: components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
