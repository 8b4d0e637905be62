import AsyncHTTPClient
import Foundation
import HubBenchmarkFixtures
import LogBenchmarkFixtures
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `hooklog serve` child process (release build, ``HubProcess/executable``) with its Kafka
/// and HTTP listeners on free loopback ports, the Dispatcher on, and `--callback-allow
/// 127.0.0.0/8` so subscriptions may call the in-process sink. (``HubProcess`` starts the hub
/// without the callback allowance, so this is a sibling of it rather than a use.)
public final class DispatchHub: @unchecked Sendable {
    // Only started, signalled and waited for (thread-safe in Foundation).
    private let process: Process
    public let host: String
    public let kafkaPort: Int
    public let httpPort: Int
    public let dataDirectory: String
    public let logPath: String
    public var pid: Int32 { process.processIdentifier }
    public var baseURL: String { "http://\(host):\(httpPort)" }

    private init(
        process: Process, host: String, kafkaPort: Int, httpPort: Int, dataDirectory: String, logPath: String
    ) {
        self.process = process
        self.host = host
        self.kafkaPort = kafkaPort
        self.httpPort = httpPort
        self.dataDirectory = dataDirectory
        self.logPath = logPath
    }

    /// Starts the hub on a new `dataDirectory` with `--flush always` and waits for its ready
    /// line (`… kafka=HOST:PORT … http=HOST:PORT …`).
    public static func start(
        dataDirectory: String, originConcurrency: Int, settings: BenchmarkSettings = .current
    ) throws -> DispatchHub {
        let binary = HubProcess.executable
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw DispatchBenchmarkError(
                "no hooklog executable at \(binary): run `swift build -c release --product hooklog` in Benchmarks/ "
                    + "or set HOOKLOG_BIN")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let logPath = dataDirectory + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = Foundation.FileHandle(forWritingAtPath: logPath) else {
            throw DispatchBenchmarkError("cannot open \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--data-dir", dataDirectory, "--kafka-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--flush", "always", "--min-free-bytes", String(settings.minFreeBytes), "--log-level", "info",
            "--callback-allow", "127.0.0.0/8", "--origin-concurrency", String(originConcurrency),
        ]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        func address(_ key: String, in text: String) -> (host: String, port: Int)? {
            guard let range = text.range(of: " \(key)=") else { return nil }
            let value = text[range.upperBound...].prefix { !$0.isWhitespace }
            guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) else {
                return nil
            }
            return (String(value[..<colon]), port)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let kafka = address("kafka", in: text), let http = address("http", in: text) {
                return DispatchHub(
                    process: process, host: kafka.host, kafkaPort: kafka.port, httpPort: http.port,
                    dataDirectory: dataDirectory, logPath: logPath)
            }
            if !process.isRunning {
                throw DispatchBenchmarkError("hooklog serve exited (status \(process.terminationStatus)):\n\(text)")
            }
            usleep(20_000)
        }
        process.terminate()
        throw DispatchBenchmarkError("hooklog serve did not report its addresses within 60 s; see \(logPath)")
    }

    /// CPU seconds (user + system, all threads) the hub has used, from /proc/PID/stat.
    public func cpuSeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    public func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// SIGTERM, wait (the Dispatcher drains open requests for up to 5 s), remove the data.
    public func stop() async {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        if process.terminationStatus != 0 {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            FileHandle.standardError.write(
                Data("hooklog serve exited with status \(process.terminationStatus):\n\(text.suffix(4000))\n".utf8))
        }
        try? FileManager.default.removeItem(atPath: dataDirectory)
        try? FileManager.default.removeItem(atPath: logPath)
    }

    // MARK: The HTTP API (a few calls, with async-http-client's shared client)

    /// `POST /topics/{topic}/subscribe` with `{"url", "maxInFlight", "startFrom": "earliest"}`;
    /// returns the subscription's id.
    public func subscribe(topic: String, url: String, maxInFlight: Int) async throws -> String {
        let body: [String: Any] = ["url": url, "maxInFlight": maxInFlight, "startFrom": "earliest"]
        let (status, answer) = try await call(.POST, "/topics/\(topic)/subscribe", json: body)
        guard status == 201, let id = answer["id"] as? String else {
            throw DispatchBenchmarkError("subscribe answered \(status): \(answer)")
        }
        return id
    }

    /// `GET /subscriptions/{id}`: the subscription with its counts and lag.
    public func subscription(_ id: String) async throws -> [String: Any] {
        let (status, answer) = try await call(.GET, "/subscriptions/\(id)")
        guard status == 200 else { throw DispatchBenchmarkError("GET /subscriptions/\(id) answered \(status): \(answer)") }
        return answer
    }

    /// `DELETE /subscriptions/{id}`.
    public func deleteSubscription(_ id: String) async throws {
        let (status, answer) = try await call(.DELETE, "/subscriptions/\(id)")
        guard status == 204 else { throw DispatchBenchmarkError("DELETE /subscriptions/\(id) answered \(status): \(answer)") }
    }

    private func call(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) async throws -> (
        Int, [String: Any]
    ) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let object = bytes.readableBytes == 0 ? nil : try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))
        return (Int(response.status.code), object as? [String: Any] ?? [:])
    }
}
