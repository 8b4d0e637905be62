import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The sink's own capacity: async-http-client (the Dispatcher's HTTP client) POSTing the same
/// 256-byte JSON body to the sink from `concurrency` tasks in a closed loop, over a pool of at
/// most `concurrency` keep-alive connections (the Dispatcher's per-origin pool is configured the
/// same way). The requests carry headers of the same names and sizes as a webhook delivery's,
/// so the sink parses as much as it does for the hub; the client computes no signature.
public final class DirectLoad: Sendable {
    public let concurrency: Int
    private let client: HTTPClient
    private let request: HTTPClientRequest

    public init(url: String, concurrency: Int) {
        self.concurrency = concurrency
        client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(5), read: .seconds(30)),
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency),
                decompression: .disabled))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        // What the Dispatcher sends with an event without CloudEvents attributes.
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "hooklog")
        request.headers.add(name: "webhook-id", value: "bench-0-0000000")
        request.headers.add(name: "webhook-timestamp", value: "1796000000")
        request.headers.add(name: "webhook-signature", value: "v1," + String(repeating: "A", count: 43) + "=")
        request.body = .bytes(ByteBuffer(bytes: JSONEvents.value(sentNanoseconds: 0)))
        self.request = request
    }

    /// Closed loop until `deadline`: returns the requests answered 2xx and the round-trip times
    /// (nanoseconds) of all of them.
    public func run(until deadline: ContinuousClock.Instant) async throws -> (requests: Int, roundTrips: [Int64]) {
        try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<concurrency {
                group.addTask { [client, request] in
                    var roundTrips: [Int64] = []
                    roundTrips.reserveCapacity(1 << 16)
                    while ContinuousClock.now < deadline {
                        let start = monotonicNanoseconds()
                        let response = try await client.execute(request, timeout: .seconds(30))
                        for try await _ in response.body {}
                        guard (200..<300).contains(response.status.code) else {
                            throw DispatchBenchmarkError("the sink answered \(response.status.code)")
                        }
                        roundTrips.append(monotonicNanoseconds() - start)
                    }
                    return roundTrips
                }
            }
            var all: [Int64] = []
            for try await roundTrips in group { all += roundTrips }
            return (all.count, all)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}
