import HubProtocol
import NIOCore

/// The offset ListOffsets found.
public struct ListOffsetsResult: Sendable, Hashable {
    /// The offset; -1 when no record has a timestamp at or after the one asked for.
    public var offset: Int64
    /// The timestamp of the record at `offset` for time lookups; -1 otherwise.
    public var timestamp: Int64
}

extension HubClient {
    /// The `listOffsets` timestamp that asks for the log start offset.
    public static let earliest: Int64 = -2
    /// The `listOffsets` timestamp that asks for the high watermark (the next offset to be written).
    public static let latest: Int64 = -1

    /// Describes the brokers and the given topics (all topics when nil).
    /// - Parameter allowAutoTopicCreation: lets the broker create missing topics asked for by name.
    /// - Returns: the cluster; topics that cannot be described carry their error code.
    public func metadata(topics: [String]? = nil, allowAutoTopicCreation: Bool = false) async throws
        -> ClusterMetadata
    {
        var request = MetadataRequest()
        request.topics = topics.map { names in names.map { MetadataRequest.MetadataRequestTopic(name: $0) } }
        request.allowAutoTopicCreation = allowAutoTopicCreation
        let response = try await send(request)
        return ClusterMetadata(
            clusterId: response.clusterId,
            controllerId: response.controllerId,
            brokers: response.brokers.map {
                ClusterMetadata.Broker(nodeId: $0.nodeId, host: $0.host, port: Int($0.port), rack: $0.rack)
            },
            topics: response.topics.map { topic in
                ClusterMetadata.Topic(
                    name: topic.name ?? "", id: topic.topicId, isInternal: topic.isInternal,
                    error: ErrorCode(rawValue: topic.errorCode),
                    partitions: topic.partitions.map {
                        ClusterMetadata.Partition(
                            index: $0.partitionIndex, leader: $0.leaderId, error: ErrorCode(rawValue: $0.errorCode))
                    }.sorted { $0.index < $1.index })
            })
    }

    /// Finds an offset of a partition by timestamp.
    /// - Parameter timestamp: ``HubClient/earliest`` (-2), ``HubClient/latest`` (-1), or
    ///   milliseconds since the epoch: the first offset whose timestamp is at or after it.
    /// - Throws: `.broker` with the Kafka error code (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    public func listOffsets(topic: String, partition: Int32, timestamp: Int64) async throws -> ListOffsetsResult {
        var request = ListOffsetsRequest()
        request.replicaId = -1
        request.timeoutMs = timeoutMilliseconds
        request.topics = [
            ListOffsetsRequest.ListOffsetsTopic(
                name: topic,
                partitions: [ListOffsetsRequest.ListOffsetsPartition(partitionIndex: partition, timestamp: timestamp)])
        ]
        let response = try await send(request)
        guard
            let answer = response.topics.first(where: { $0.name == topic })?.partitions
                .first(where: { $0.partitionIndex == partition })
        else {
            throw HubClientError(.malformedResponse, "the ListOffsets response does not mention \(topic)-\(partition)")
        }
        if answer.errorCode != 0 {
            throw HubClientError.broker(ErrorCode(rawValue: answer.errorCode), "list offsets of \(topic)-\(partition)")
        }
        return ListOffsetsResult(offset: answer.offset, timestamp: answer.timestamp)
    }
}
