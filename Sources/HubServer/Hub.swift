import Dispatcher
import LogStore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The running hub: the log manager and the listeners that serve it.
public final class Hub: Sendable {
    /// Everything `hooklog serve` configures.
    public struct Configuration: Sendable {
        public var storage: LogManager.Configuration
        /// Where the Kafka-protocol listener binds (port 0 picks a free one).
        public var kafkaHost = "127.0.0.1"
        public var kafkaPort = 9092
        /// What Metadata tells clients to connect to; the bound address when nil.
        public var advertisedKafkaHost: String?
        public var advertisedKafkaPort: Int?
        /// The API-key file; authentication is on when it holds keys.
        public var apiKeysPath: String?
        /// `max.request.bytes`.
        public var maxRequestBytes = 100 << 20
        /// `auto.create.topics`.
        public var autoCreateTopics = true
        /// `connections.max.idle.ms`.
        public var idleTimeout: Duration = .seconds(600)
        /// How often retention runs.
        public var retentionCheckInterval: Duration = .seconds(300)
        /// The background cleaner (compaction of compacted topics, retention) and its I/O cap.
        public var cleaner = LogCleaner.Configuration()
        /// Where the HTTP API binds (port 0 picks a free one; nil port = no HTTP listener).
        public var httpHost = "127.0.0.1"
        public var httpPort: Int? = 8080
        /// How long an HTTP connection may sit idle (also bounds slow clients).
        public var httpIdleTimeout: Duration = .seconds(60)
        /// HTTP requests per second per API key (0 = unlimited) and the bucket size.
        public var httpRateLimit: Double = 0
        public var httpRateBurst: Double = 0
        /// CIDRs that callback URLs may point at although the SSRF guard refuses them otherwise.
        public var callbackAllow: [String] = []
        /// Webhook delivery settings; `dispatch` false runs no Dispatcher (subscriptions are kept
        /// but nothing is delivered).
        public var dispatcher = Dispatcher.Configuration()
        public var dispatch = true
        /// Where the hub's metrics go (`GET /metrics` renders it).
        public var metrics = HubMetrics()
        public var logger = Logger(label: "hooklog")

        public init(storage: LogManager.Configuration) {
            self.storage = storage
        }
    }

    public let logs: LogManager
    public let subscriptions: SubscriptionRegistry
    private let kafka: KafkaListener
    private let http: HTTPListener?
    private let dispatcher: Dispatcher?
    private let groups: GroupCoordinator
    private let cleaner: LogCleaner
    private let logger: Logger

    /// The Kafka listener's bound address.
    public var kafkaAddress: (host: String, port: Int) {
        let address = kafka.localAddress
        return (address?.ipAddress ?? "?", address?.port ?? 0)
    }

    /// The HTTP listener's bound address, when it runs.
    public var httpAddress: (host: String, port: Int)? {
        guard let http else { return nil }
        return (http.localAddress?.ipAddress ?? "?", http.localAddress?.port ?? 0)
    }

    private init(
        logs: LogManager, subscriptions: SubscriptionRegistry, kafka: KafkaListener, http: HTTPListener?,
        dispatcher: Dispatcher?, groups: GroupCoordinator, cleaner: LogCleaner, logger: Logger
    ) {
        self.dispatcher = dispatcher
        self.groups = groups
        self.logs = logs
        self.subscriptions = subscriptions
        self.kafka = kafka
        self.http = http
        self.cleaner = cleaner
        self.logger = logger
    }

    /// Opens the data directory (recovering it if needed) and starts the listeners.
    public static func start(_ configuration: Configuration) async throws -> Hub {
        let logger = configuration.logger
        let keys = try configuration.apiKeysPath.map { try ApiKeyStore(path: $0) }
        let authenticated = !(keys?.isEmpty ?? true)
        for host in [configuration.kafkaHost] + (configuration.httpPort == nil ? [] : [configuration.httpHost])
        where !authenticated && !isLoopback(host) {
            throw ApiKeyError(
                "refusing to listen on \(host) without authentication: create an API key first "
                    + "(hooklog apikeys create ID --roles admin --data-dir D) or listen on 127.0.0.1")
        }
        let allowed = try configuration.callbackAllow.map { try CIDRBlock($0) }
        let callbackGuard = CallbackGuard(allowed: allowed)
        var storage = configuration.storage
        configuration.metrics.instrument(&storage.options)
        let logs = try LogManager(storage)
        var kafkaListener: KafkaListener?
        var startedDispatcher: Dispatcher?
        do {
            var settings = KafkaAPI.Settings()
            settings.autoCreateTopics = configuration.autoCreateTopics
            let listenerSettings = KafkaListener.Settings(
                host: configuration.kafkaHost, port: configuration.kafkaPort,
                maxRequestBytes: configuration.maxRequestBytes,
                idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000))
            // The advertised port may depend on the bound one (port 0), so the API learns it
            // through a box filled right after binding.
            let box = AdvertisedAddress()
            let api = DeferredKafkaAPI(box: box)
            let kafka = try await KafkaListener.start(
                settings: listenerSettings, processor: api, group: MultiThreadedEventLoopGroup.singleton,
                logger: logger)
            kafkaListener = kafka
            settings.advertisedHost = configuration.advertisedKafkaHost ?? configuration.kafkaHost
            settings.advertisedPort = Int32(configuration.advertisedKafkaPort ?? kafka.localAddress?.port ?? 9092)
            let offsets = try CommittedOffsets(logs: logs, logger: logger)
            let groups = GroupCoordinator(logger: logger)
            // Groups with committed offsets exist (Empty) from the start, as in Kafka.
            for group in offsets.groups { groups.loadEmptyGroup(group) }
            box.set(
                KafkaAPI(logs: logs, offsets: offsets, groups: groups, keys: keys, settings: settings, logger: logger))
            let subscriptions = try SubscriptionRegistry(logs: logs)
            let cursors = try SubscriptionCursors(logs: logs)
            var cleanerSettings = configuration.cleaner
            cleanerSettings.retentionInterval = configuration.retentionCheckInterval
            cleanerSettings.minFreeBytes = configuration.storage.options.minFreeBytes
            let cleaner = LogCleaner(manager: logs, configuration: cleanerSettings, logger: logger)
            var dispatcher: Dispatcher?
            if configuration.dispatch {
                var settings = configuration.dispatcher
                settings.allowed += allowed
                configuration.metrics.instrument(&settings)
                dispatcher = try Dispatcher(
                    logs: logs, registry: subscriptions, cursors: cursors, configuration: settings, logger: logger)
                await dispatcher?.start()
            }
            startedDispatcher = dispatcher
            var http: HTTPListener?
            if let httpPort = configuration.httpPort {
                let api = HTTPAPI(
                    logs: logs, subscriptions: subscriptions, cursors: cursors, dispatcher: dispatcher, cleaner: cleaner,
                    offsets: offsets, groups: groups, keys: keys, metrics: configuration.metrics,
                    idempotency: try IdempotencyKeys(logs: logs),
                    checkCallback: { url in _ = try await callbackGuard.check(url: url) },
                    settings: HTTPAPI.Settings(
                        rateLimit: configuration.httpRateLimit, rateBurst: configuration.httpRateBurst,
                        autoCreateTopics: configuration.autoCreateTopics),
                    logger: logger)
                http = try await HTTPListener.start(
                    host: configuration.httpHost, port: httpPort, router: api.router(),
                    idleTimeout: configuration.httpIdleTimeout, logger: logger)
                logger.info(
                    "HTTP listener ready", metadata: ["address": "\(http?.localAddress.map { "\($0)" } ?? "?")"])
            }
            cleaner.start()
            logger.info(
                "Kafka listener ready",
                metadata: ["address": "\(kafka.localAddress.map { "\($0)" } ?? "?")",
                    "advertised": "\(settings.advertisedHost):\(settings.advertisedPort)"])
            return Hub(
                logs: logs, subscriptions: subscriptions, kafka: kafka, http: http, dispatcher: dispatcher, groups: groups,
                cleaner: cleaner, logger: logger)
        } catch {
            await startedDispatcher?.shutdown()
            await kafkaListener?.close()
            await logs.close()
            throw error
        }
    }

    /// Stops listening, lets in-flight work finish, and closes the log cleanly.
    public func shutdown() async {
        // Parked JoinGroup / SyncGroup requests are answered first, so that connections drain.
        groups.close()
        await http?.close()
        await dispatcher?.shutdown()
        await kafka.close()
        await cleaner.stop()
        await logs.close()
    }
}

/// Whether `host` is a loopback address or name.
func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
}

/// Holds the KafkaAPI once the listener's port is known.
final class AdvertisedAddress: Sendable {
    private let api = Mutex<KafkaAPI?>(nil)
    func set(_ value: KafkaAPI) { api.withLock { $0 = value } }
    var value: KafkaAPI? { api.withLock { $0 } }
}

/// Forwards to the KafkaAPI in the box (requests before it is set are refused).
struct DeferredKafkaAPI: KafkaRequestProcessor {
    let box: AdvertisedAddress
    func process(_ frame: ByteBuffer, connection: KafkaConnection, sequence: Int) async -> KafkaReply {
        guard let api = box.value else {
            await connection.ordering.wait(for: sequence)
            connection.ordering.pass(sequence)
            return .close(reason: "the hub is starting")
        }
        return await api.process(frame, connection: connection, sequence: sequence)
    }
}
