import Foundation
import Hummingbird
import LogStore

/// `/topics`: create, list, describe and delete topics.
extension HTTPAPI {
    struct CreateTopicBody: Decodable {
        var name: String
        var partitions: Int?
        var config: [String: String]?
    }

    struct TopicSummary: Encodable {
        var name: String
        var id: String
        var partitions: Int
        var `internal`: Bool
    }

    struct PartitionDetail: Encodable {
        var partition: Int
        /// The first offset still in the log.
        var startOffset: Int64
        /// The high watermark: the offset the next readable event will get.
        var endOffset: Int64
        var sizeBytes: Int
        var segments: Int
        /// Compacted topics: the share of the cleanable bytes not yet compacted.
        var dirtyRatio: Double?
    }

    struct TopicDetail: Encodable {
        var name: String
        var id: String
        var `internal`: Bool
        var partitions: [PartitionDetail]
        var sizeBytes: Int
        /// Effective settings (defaults plus overrides), by Kafka name.
        var config: [String: String]
        /// The settings given when the topic was created.
        var overrides: [String: String]
    }

    func addTopicRoutes(to router: Router<HubRequestContext>) {
        router.route(.post, "/topics", in: routes) { request, context in
            try context.require(.admin)
            let body = try await Self.decode(CreateTopicBody.self, from: request)
            guard !body.name.hasPrefix("__") else {
                throw APIError(.forbidden, "forbidden", "names starting with '__' are reserved for internal topics")
            }
            let metadata = try logs.createTopic(body.name, partitions: body.partitions, config: body.config ?? [:])
            return try Self.json(try detail(of: metadata), status: .created)
        }
        router.route(.get, "/topics", in: routes) { _, context in
            try context.require(.consume)
            let admin = context.principal.may(.admin)
            let topics = logs.topicList.filter { admin || !$0.isInternal }.map {
                TopicSummary(name: $0.name, id: $0.id.uuidString, partitions: $0.partitions, internal: $0.isInternal)
            }
            return try Self.json(["topics": topics])
        }
        router.route(.get, "/topics/:topic", in: routes) { _, context in
            try context.require(.consume)
            let name = try Self.parameter("topic", context)
            try requireVisible(name, context)
            guard let metadata = logs.metadata(of: name) else { throw APIError.notFound("topic '\(name)' does not exist") }
            return try Self.json(try detail(of: metadata))
        }
        router.route(.delete, "/topics/:topic", in: routes) { _, context in
            try context.require(.admin)
            let name = try Self.parameter("topic", context)
            guard !name.hasPrefix("__") else {
                throw APIError(.forbidden, "forbidden", "internal topics cannot be deleted")
            }
            try await logs.deleteTopic(name)
            return Self.noContent
        }
    }

    func detail(of metadata: TopicMetadata) throws -> TopicDetail {
        var partitions: [PartitionDetail] = []
        for partition in 0..<metadata.partitions {
            let info = try log(metadata.name, partition).info
            partitions.append(
                PartitionDetail(
                    partition: partition, startOffset: info.logStartOffset, endOffset: info.highWatermark,
                    sizeBytes: info.sizeInBytes, segments: info.segments.count,
                    dirtyRatio: info.compacted ? info.dirtyRatio : nil))
        }
        let config = logs.config(of: metadata.name) ?? LogConfig()
        return TopicDetail(
            name: metadata.name, id: metadata.id.uuidString, internal: metadata.isInternal, partitions: partitions,
            sizeBytes: partitions.reduce(0) { $0 + $1.sizeBytes },
            config: Dictionary(config.properties.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            overrides: metadata.configOverrides)
    }
}
