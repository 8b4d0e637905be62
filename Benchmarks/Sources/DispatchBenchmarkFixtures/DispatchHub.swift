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

/// A `hooklog serve` child process (``HubProcess``) with the Dispatcher on and `--callback-allow
/// 127.0.0.0/8`, so subscriptions may call the in-process sink, and the few HTTP API calls the
/// dispatch benchmarks make.
public final class DispatchHub: Sendable {
    public let process: HubProcess
    public var host: String { process.host }
    public var kafkaPort: Int { process.port }
    public var httpPort: Int { process.httpPort }
    public var baseURL: String { "http://\(host):\(httpPort)" }

    private init(process: HubProcess) {
        self.process = process
    }

    /// Starts the hub on a new `dataDirectory` with `--flush always`.
    public static func start(
        dataDirectory: String, originConcurrency: Int, settings: BenchmarkSettings = .current
    ) throws -> DispatchHub {
        DispatchHub(
            process: try HubProcess.start(
                dataDirectory: dataDirectory, flush: "always",
                extraArguments: ["--callback-allow", "127.0.0.0/8", "--origin-concurrency", String(originConcurrency)],
                settings: settings))
    }

    /// CPU seconds (user + system, all threads) the hub has used.
    public func cpuSeconds() -> Double { process.cpuSeconds() }

    public func residentBytes() -> Int { process.residentBytes() }

    /// SIGTERM, wait (the Dispatcher drains open requests for up to 5 s), remove the data.
    public func stop() async { await process.stop() }

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
