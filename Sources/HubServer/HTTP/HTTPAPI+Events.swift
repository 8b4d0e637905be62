import Crypto
import Foundation
import HTTPTypes
import HubProtocol
import Hummingbird
import LogStore
import NIOCore

/// `POST /topics/{topic}/events`: append CloudEvents (binary, structured or batch mode).
extension HTTPAPI {
    struct AppendedEvent: Codable {
        var id: String
        var partition: Int
        var offset: Int64
    }

    struct AppendedEvents: Codable {
        var events: [AppendedEvent]
    }

    func addEventRoutes(to router: Router<HubRequestContext>) {
        router.route(.post, "/topics/:topic/events", in: routes) { request, context in
            try context.require(.produce)
            let topic = try Self.parameter("topic", context)
            guard !topic.hasPrefix("__") else {
                throw APIError(.forbidden, "forbidden", "events cannot be posted to internal topics")
            }
            let body = Array(try await Self.collect(request, limit: Self.maxRequestBytes).readableBytesView)
            let idempotencyKey = request.headers[HTTPField.Name("Idempotency-Key")!]
            var fingerprint = ""
            if let idempotencyKey {
                guard !idempotencyKey.isEmpty, idempotencyKey.utf8.count <= IdempotencyKeys.maxKeyLength else {
                    throw APIError.badRequest("Idempotency-Key must have 1 to \(IdempotencyKeys.maxKeyLength) characters")
                }
                fingerprint = Self.fingerprint(request: request, body: body)
                if case .replay(let stored) = try idempotency.begin(
                    topic: topic, key: idempotencyKey, fingerprint: fingerprint)
                {
                    return Response(
                        status: .init(code: stored.status),
                        headers: [.contentType: "application/json", HTTPField.Name("Idempotent-Replayed")!: "true"],
                        body: .init(byteBuffer: ByteBuffer(string: stored.body)))
                }
            }
            do {
                let appended = try await append(request: request, topic: topic, body: body)
                let isBatch = CloudEventParser.mediaType(request.headers[.contentType] ?? "") == CloudEventParser.batchType
                let answer =
                    isBatch
                    ? try JSONEncoder.sorted.encode(AppendedEvents(events: appended))
                    : try JSONEncoder.sorted.encode(appended[0])
                if let idempotencyKey {
                    try await idempotency.finish(
                        topic: topic, key: idempotencyKey, fingerprint: fingerprint, status: 201,
                        body: String(decoding: answer, as: UTF8.self))
                }
                return Response(
                    status: .created, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: answer)))
            } catch {
                if let idempotencyKey { idempotency.abandon(topic: topic, key: idempotencyKey) }
                throw error
            }
        }
    }

    /// Parses the events, picks their partitions and appends them; returns where each landed, in
    /// request order. Events for one partition are appended in order; partitions in parallel.
    private func append(request: Request, topic: String, body: [UInt8]) async throws -> [AppendedEvent] {
        let events = try CloudEventParser.events(fields: request.headers, body: body, maxEventBytes: Self.maxEventBytes)
        if logs.metadata(of: topic) == nil {
            guard settings.autoCreateTopics else { throw APIError.notFound("topic '\(topic)' does not exist") }
            do {
                try logs.createTopic(topic)
            } catch let error as LogStoreError where error.code == .topicAlreadyExists {
                // Created concurrently: fine.
            }
        }
        guard let metadata = logs.metadata(of: topic) else { throw APIError.notFound("topic '\(topic)' does not exist") }
        let explicit = try request.uri.queryParameters.get("partition").map { text -> Int in
            guard let partition = Int(text), partition >= 0, partition < metadata.partitions else {
                throw APIError.badRequest(
                    "partition must be 0 to \(metadata.partitions - 1) for topic '\(topic)', not '\(text)'")
            }
            return partition
        }
        var byPartition: [Int: [Int]] = [:]
        for (index, event) in events.enumerated() {
            let partition =
                explicit
                ?? event.key.map { DefaultPartitioner.partition(forKey: $0, partitions: metadata.partitions) }
                ?? partitioner.partition(topic: topic, partitions: metadata.partitions)
            byPartition[partition, default: []].append(index)
        }
        let maxBatchBytes = (logs.config(of: topic) ?? LogConfig()).maxMessageBytes
        for (index, event) in events.enumerated() where event.batchSize > maxBatchBytes {
            throw APIError(
                .contentTooLarge, "event_too_large",
                "event \(index) needs up to \(event.batchSize) bytes as a record batch (data, key and headers); "
                    + "topic '\(topic)' allows \(maxBatchBytes) (max.message.bytes)")
        }
        let timestamp = wallClockMilliseconds()
        let placed = try await withThrowingTaskGroup(of: [(Int, AppendedEvent)].self) { group in
            for (partition, indexes) in byPartition {
                let log = try self.log(topic, partition)
                group.addTask {
                    var placed: [(Int, AppendedEvent)] = []
                    var builder = RecordBatchBuilder()
                    var pending: [Int] = []
                    func flush() async throws {
                        guard !builder.isEmpty else { return }
                        let result = try await log.append(try builder.build())
                        for (delta, index) in pending.enumerated() {
                            placed.append(
                                (index, AppendedEvent(id: events[index].id, partition: partition, offset: result.baseOffset + Int64(delta))))
                        }
                        builder = RecordBatchBuilder()
                        pending.removeAll()
                    }
                    for index in indexes {
                        let event = events[index]
                        if !builder.isEmpty && 61 + builder.recordsSize + event.batchSize > maxBatchBytes {
                            try await flush()
                        }
                        builder.append(key: event.key, value: event.value, headers: event.headers, timestamp: timestamp)
                        pending.append(index)
                    }
                    try await flush()
                    return placed
                }
            }
            var all: [(Int, AppendedEvent)] = []
            for try await placed in group { all.append(contentsOf: placed) }
            return all
        }
        return placed.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// What makes two requests "the same" for Idempotency-Key: the partition asked for, the
    /// content type, the CloudEvents headers and the body.
    static func fingerprint(request: Request, body: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array((request.uri.queryParameters.get("partition") ?? "").utf8) + [0])
        hasher.update(data: Array((request.headers[.contentType] ?? "").utf8) + [0])
        for field in request.headers where field.name.canonicalName.hasPrefix("ce-") {
            hasher.update(data: Array("\(field.name.canonicalName):\(field.value)".utf8) + [0])
        }
        hasher.update(data: body)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

extension JSONEncoder {
    /// Compact JSON with sorted keys (stable bytes for stored answers).
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
