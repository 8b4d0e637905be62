import Foundation
import HubProtocol
import HubServer
import LogStore
import NIOCore
import Testing

/// Malformed, oversized and half-sent frames get an error response or a closed connection —
/// never a crash, never unbounded memory — and other connections keep being served.
@Suite struct KafkaHostileInputTests {
    /// Starts a hub on a free port in a temp directory and runs `body` with its port.
    static func withHub(_ body: @escaping (Int) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-hostile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var storage = LogManager.Configuration(dataDirectory: dir)
        storage.options.minFreeBytes = 0
        var configuration = Hub.Configuration(storage: storage)
        configuration.kafkaPort = 0
        configuration.httpPort = 0
        configuration.maxRequestBytes = 1 << 20
        let hub = try await Hub.start(configuration)
        do {
            try await body(hub.kafkaAddress.port)
        } catch {
            await hub.shutdown()
            throw error
        }
        await hub.shutdown()
    }

    /// A well-formed ApiVersions v3 exchange still works.
    static func expectServing(_ port: Int) throws {
        let socket = try RawKafkaSocket(port: port)
        socket.sendFrame(RequestBytes.make(ApiVersionsRequest(), version: 3, correlationId: 77))
        let response = try #require(socket.receiveFrame())
        #expect(RequestBytes.correlationId(of: response) == 77)
        var body = ByteBuffer(bytes: response.dropFirst(4))
        let decoded = try ApiVersionsResponse(from: &body, version: 3)
        #expect(decoded.errorCode == 0)
        #expect(decoded.apiKeys.contains { $0.apiKey == ProduceRequest.apiKey })
    }

    @Test func oversizedAndNegativeLengthsCloseAtOnce() async throws {
        try await Self.withHub { port in
            try await offThread {
            for size in [Int32(200 << 20), Int32(-5), Int32.min] {
                let socket = try RawKafkaSocket(port: port)
                socket.send(withUnsafeBytes(of: size.bigEndian, Array.init) + [1, 2, 3])
                #expect(socket.isClosedByPeer(), "size \(size)")
            }
            try Self.expectServing(port)
            }
        }
    }

    @Test func unknownApiBadVersionAndGarbageCloseTheConnection() async throws {
        try await Self.withHub { port in
            try await offThread {
            let cases: [[UInt8]] = [
                RequestBytes.header(apiKey: 9999, version: 0, correlationId: 1),
                RequestBytes.header(apiKey: ProduceRequest.apiKey, version: 99, correlationId: 2),
                RequestBytes.header(apiKey: FetchRequest.apiKey, version: -1, correlationId: 3),
                [0x00, 0x03],  // truncated header
                (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37) },  // garbage
                // A Metadata v1 request whose topic array claims 2^31-1 entries.
                RequestBytes.header(apiKey: MetadataRequest.apiKey, version: 1, correlationId: 4) + [0x7F, 0xFF, 0xFF, 0xFF],
            ]
            for bytes in cases {
                let socket = try RawKafkaSocket(port: port)
                socket.sendFrame(bytes)
                #expect(socket.isClosedByPeer(), "frame \(bytes.prefix(12))")
            }
            try Self.expectServing(port)
            }
        }
    }

    @Test func apiVersionsAtAnUnknownVersionGetsTheV0ErrorAnswer() async throws {
        try await Self.withHub { port in
            try await offThread {
            let socket = try RawKafkaSocket(port: port)
            socket.sendFrame(RequestBytes.header(apiKey: ApiVersionsRequest.apiKey, version: 42, correlationId: 9) + [0, 0])
            let response = try #require(socket.receiveFrame())
            #expect(RequestBytes.correlationId(of: response) == 9)
            var body = ByteBuffer(bytes: response.dropFirst(4))
            let decoded = try ApiVersionsResponse(from: &body, version: 0)
            #expect(decoded.errorCode == ErrorCode.unsupportedVersion.rawValue)
            let apiVersions = try #require(decoded.apiKeys.first { $0.apiKey == ApiVersionsRequest.apiKey })
            #expect(apiVersions.minVersion == 0 && apiVersions.maxVersion == 3)
            }
        }
    }

    @Test func pipelinedRequestsAnswerInOrderAndAcksZeroGetsNoResponse() async throws {
        try await Self.withHub { port in
            try await offThread {
            var builder = RecordBatchBuilder()
            builder.append(key: nil, value: Array("quiet".utf8), timestamp: 1)
            let records = try builder.build()
            let produce = ProduceRequest(
                acks: 0, timeoutMs: 1000,
                topicData: [.init(name: "pipelined", partitionData: [.init(index: 0, records: records)])])
            let socket = try RawKafkaSocket(port: port)
            var burst: [UInt8] = []
            let metadata = MetadataRequest(topics: [.init(name: "pipelined")])
            for (i, frame) in [
                RequestBytes.make(metadata, version: 9, correlationId: 1),
                RequestBytes.make(produce, version: 9, correlationId: 2),
                RequestBytes.make(ApiVersionsRequest(), version: 3, correlationId: 3),
                RequestBytes.make(metadata, version: 1, correlationId: 4),
            ].enumerated() {
                _ = i
                burst += withUnsafeBytes(of: Int32(frame.count).bigEndian, Array.init) + frame
            }
            socket.send(burst)
            var seen: [Int32] = []
            for _ in 0..<3 {
                let response = try #require(socket.receiveFrame())
                seen.append(RequestBytes.correlationId(of: response))
            }
            #expect(seen == [1, 3, 4], "acks=0 produce (2) gets no response; the rest keep their order")
            }
        }
    }

    @Test func manyHalfSentFramesDoNotExhaustMemory() async throws {
        try await Self.withHub { port in
            try await offThread {
            let before = Self.residentBytes()
            var sockets: [RawKafkaSocket] = []
            // Each claims an 1 MiB frame (the limit in this hub) and sends only 1 KiB of it.
            for _ in 0..<300 {
                let socket = try RawKafkaSocket(port: port)
                socket.send(withUnsafeBytes(of: Int32(1 << 20).bigEndian, Array.init) + [UInt8](repeating: 7, count: 1024))
                sockets.append(socket)
            }
            try Self.expectServing(port)
            let growth = Self.residentBytes() - before
            #expect(growth < 64 << 20, "resident memory grew by \(growth) bytes for 300 half-sent frames")
            sockets.removeAll()
            try Self.expectServing(port)
            }
        }
    }

    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
