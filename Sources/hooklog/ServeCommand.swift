import ArgumentParser
import Dispatch
import Dispatcher
import HubServer
import LogStore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `hooklog serve`: opens the data directory, serves the Kafka protocol, and runs until SIGINT
/// or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub: the log on a data directory, served over the Kafka protocol and the HTTP API.",
        discussion: "Stops cleanly on SIGINT or SIGTERM (the next start then skips recovery)."
    )

    @OptionGroup var storage: StorageOptions

    @Option(help: "Kafka-protocol listener address HOST:PORT (port 0 picks a free port).")
    var kafkaListen: String = "127.0.0.1:9092"

    @Option(help: "HOST:PORT that Metadata tells clients to connect to (default: the listener's).")
    var advertisedKafka: String?

    @Option(help: "HTTP API listener address HOST:PORT (port 0 picks a free port; 'off' disables it).")
    var httpListen: String = "127.0.0.1:8080"

    @Option(help: "HTTP requests per second per API key (0 = unlimited; a key's own limit wins).")
    var httpRateLimit: Double = 0

    @Option(help: "HTTP requests an API key may burst after being idle (default: one second's worth).")
    var httpRateBurst: Double = 0

    @Option(help: "Seconds an HTTP connection may stay idle before it is closed.")
    var httpIdleTimeout: Int = 60

    @Option(
        help: ArgumentHelp(
            "Allow callback URLs in this CIDR although the SSRF guard refuses it otherwise (repeatable).",
            valueName: "CIDR"))
    var callbackAllow: [String] = []

    @Option(help: "Default retry schedule of webhook deliveries: comma-separated delays such as 5s,5m,30m,2h.")
    var retrySchedule: String = RetrySchedule.default.description

    @Option(help: "Concurrent webhook requests per receiver origin (scheme://host:port), across subscriptions.")
    var originConcurrency: Int = 64

    @Option(help: "How long a subscription may keep failing before it is disabled (e.g. 12h, 5d; at most 7d).")
    var disableAfter: String = "5d"

    @Option(help: "The longest one webhook request may take, connection included (e.g. 30s, 500ms).")
    var deliveryTimeout: String = "30s"

    @Flag(help: "Keep subscriptions but deliver nothing (no Dispatcher).")
    var noDispatch = false

    @Option(help: "Create unknown topics when a client asks for their metadata (true or false).")
    var autoCreateTopics: Bool = true

    @Option(help: "Largest request frame accepted, in bytes (max.request.bytes).")
    var maxRequestBytes: Int = 100 << 20

    @Option(help: "API-key file (default: <data-dir>/api-keys.json when it exists). With keys, clients must authenticate (SASL/PLAIN: key id and secret).")
    var apiKeys: String?

    @Option(help: "Seconds between retention passes.")
    var retentionCheckInterval: Int = 300

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        _ = try HostPort(kafkaListen, option: "--kafka-listen")
        if httpListen != "off" { _ = try HostPort(httpListen, option: "--http-listen") }
        guard httpRateLimit >= 0, httpRateBurst >= 0 else {
            throw ValidationError("--http-rate-limit and --http-rate-burst cannot be negative")
        }
        guard httpIdleTimeout > 0 else { throw ValidationError("--http-idle-timeout must be above 0") }
        do {
            _ = try RetrySchedule(parsing: retrySchedule)
            _ = try RetrySchedule(parsing: disableAfter)
            _ = try RetrySchedule(parsing: deliveryTimeout)
        } catch {
            throw ValidationError("\(error)")
        }
        guard (1...4096).contains(originConcurrency) else {
            throw ValidationError("--origin-concurrency must be 1 to 4096")
        }
        for cidr in callbackAllow {
            do {
                _ = try CIDRBlock(cidr)
            } catch {
                throw ValidationError("--callback-allow: \(error)")
            }
        }
        if let advertisedKafka { _ = try HostPort(advertisedKafka, option: "--advertised-kafka") }
    }

    func run() async throws {
        var logger = Logger(label: "hooklog")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let listen = try HostPort(kafkaListen, option: "--kafka-listen")
        var configuration = Hub.Configuration(storage: try storage.managerConfiguration(logger: logger))
        configuration.kafkaHost = listen.host
        configuration.kafkaPort = listen.port
        if let advertisedKafka {
            let advertised = try HostPort(advertisedKafka, option: "--advertised-kafka")
            configuration.advertisedKafkaHost = advertised.host
            configuration.advertisedKafkaPort = advertised.port
        }
        configuration.autoCreateTopics = autoCreateTopics
        if httpListen == "off" {
            configuration.httpPort = nil
        } else {
            let http = try HostPort(httpListen, option: "--http-listen")
            configuration.httpHost = http.host
            configuration.httpPort = http.port
        }
        configuration.httpRateLimit = httpRateLimit
        configuration.httpRateBurst = httpRateBurst
        configuration.httpIdleTimeout = .seconds(httpIdleTimeout)
        configuration.callbackAllow = callbackAllow
        configuration.dispatch = !noDispatch
        configuration.dispatcher.retrySchedule = try RetrySchedule(parsing: retrySchedule)
        configuration.dispatcher.originLimit = originConcurrency
        configuration.dispatcher.disableAfter = try RetrySchedule(parsing: disableAfter).delays[0]
        let timeout = try RetrySchedule(parsing: deliveryTimeout).delays[0]
        configuration.dispatcher.requestTimeout = timeout
        configuration.dispatcher.connectTimeout = min(configuration.dispatcher.connectTimeout, timeout)
        configuration.apiKeysPath = apiKeys ?? ApiKeysCommand.defaultPath(dataDir: storage.dataDir)
        configuration.maxRequestBytes = maxRequestBytes
        configuration.retentionCheckInterval = .seconds(retentionCheckInterval)
        configuration.logger = logger
        let hub = try await Hub.start(configuration)
        let address = hub.kafkaAddress
        logger.info(
            "hooklog serving",
            metadata: [
                "dataDir": "\(storage.dataDir)", "kafka": "\(address.host):\(address.port)",
                "http": "\(hub.httpAddress.map { "\($0.host):\($0.port)" } ?? "off")",
                "topics": "\(hub.logs.topicList.count)",
                "cleanShutdownBefore": "\(hub.logs.openedAfterCleanShutdown)",
            ])
        let signal = await SignalWaiter.waitForTermination()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        await hub.shutdown()
        logger.info("stopped cleanly")
    }
}

/// A HOST:PORT option value.
struct HostPort {
    var host: String
    var port: Int

    init(_ text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ValidationError("\(option) needs HOST:PORT, got '\(text)'") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(option) needs a host, got '\(text)'") }
        self.host = host
        self.port = port
    }
}

/// Waits for SIGINT or SIGTERM without killing the process.
enum SignalWaiter {
    static func waitForTermination() async -> Int32 {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "hooklog.signals")
            let box = SignalSources()
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    guard box.fire() else { return }
                    continuation.resume(returning: number)
                }
                source.resume()
                box.sources.append(source)
            }
        }
    }

    /// Keeps the signal sources alive and lets only the first signal resume.
    final class SignalSources: @unchecked Sendable {
        // Touched only on the signals queue, or before any source is resumed.
        var sources: [any DispatchSourceSignal] = []
        private var fired = false
        func fire() -> Bool {
            defer { fired = true }
            return !fired
        }
    }
}
