import HubProtocol
import NIOCore

/// A topic the broker created.
public struct CreatedTopic: Sendable, Hashable {
    public var name: String
    /// `Uuid.zero` when the broker does not send it (CreateTopics v6 and older).
    public var id: Uuid
    public var partitions: Int32
    /// The topic's effective configuration, when the broker sends it (CreateTopics v5+).
    public var configs: [String: String]
}

/// One configuration entry of a topic.
public struct TopicConfig: Sendable, Hashable {
    public var name: String
    /// nil for sensitive or unset values.
    public var value: String?
    /// True when the value is the default rather than a topic override.
    public var isDefault: Bool
    public var isReadOnly: Bool
    public var isSensitive: Bool
}

extension HubClient {
    /// Creates a topic.
    /// - Parameters:
    ///   - partitions: the partition count; -1 takes the broker's default (`num.partitions`).
    ///   - configs: topic settings such as `retention.ms` or `cleanup.policy`.
    ///   - validateOnly: check the request without creating anything.
    /// - Throws: `.broker` with e.g. TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_CONFIG.
    @discardableResult
    public func createTopic(
        name: String, partitions: Int32 = -1, configs: [String: String] = [:], validateOnly: Bool = false
    ) async throws -> CreatedTopic {
        var topic = CreateTopicsRequest.CreatableTopic()
        topic.name = name
        topic.numPartitions = partitions
        topic.replicationFactor = -1
        topic.configs = configs.sorted { $0.key < $1.key }.map {
            CreateTopicsRequest.CreatableTopicConfig(name: $0.key, value: $0.value)
        }
        var request = CreateTopicsRequest()
        request.topics = [topic]
        request.timeoutMs = timeoutMilliseconds
        request.validateOnly = validateOnly
        let response = try await send(request)
        guard let answer = response.topics.first(where: { $0.name == name }) else {
            throw HubClientError(.malformedResponse, "the CreateTopics response does not mention \(name)")
        }
        if answer.errorCode != 0 {
            throw HubClientError.broker(
                ErrorCode(rawValue: answer.errorCode), "create topic \(name)", message: answer.errorMessage)
        }
        var effective = configs
        for entry in answer.configs ?? [] { effective[entry.name] = entry.value }
        return CreatedTopic(
            name: name, id: answer.topicId, partitions: answer.numPartitions >= 0 ? answer.numPartitions : partitions,
            configs: effective)
    }

    /// Deletes a topic and all its data.
    /// - Throws: `.broker` with e.g. UNKNOWN_TOPIC_OR_PARTITION.
    public func deleteTopic(name: String) async throws {
        var request = DeleteTopicsRequest()
        request.timeoutMs = timeoutMilliseconds
        let version = try version(of: DeleteTopicsRequest.self)
        if version >= 6 {
            request.topics = [DeleteTopicsRequest.DeleteTopicState(name: name)]
        } else {
            request.topicNames = [name]
        }
        let response = try await connection.send(request, version: version)
        guard let answer = response.responses.first(where: { $0.name == name }) ?? response.responses.first else {
            throw HubClientError(.malformedResponse, "the DeleteTopics response does not mention \(name)")
        }
        if answer.errorCode != 0 {
            throw HubClientError.broker(
                ErrorCode(rawValue: answer.errorCode), "delete topic \(name)", message: answer.errorMessage)
        }
    }

    /// Every configuration entry of a topic, in name order.
    /// - Throws: `.broker` with e.g. UNKNOWN_TOPIC_OR_PARTITION.
    public func describeTopicConfigs(name: String) async throws -> [TopicConfig] {
        let topicResource: Int8 = 2
        let defaultSource: Int8 = 5
        var request = DescribeConfigsRequest()
        request.resources = [
            DescribeConfigsRequest.DescribeConfigsResource(
                resourceType: topicResource, resourceName: name, configurationKeys: nil)
        ]
        let version = try version(of: DescribeConfigsRequest.self)
        let response = try await connection.send(request, version: version)
        guard let result = response.results.first(where: { $0.resourceName == name }) else {
            throw HubClientError(.malformedResponse, "the DescribeConfigs response does not mention \(name)")
        }
        if result.errorCode != 0 {
            throw HubClientError.broker(
                ErrorCode(rawValue: result.errorCode), "describe configs of \(name)", message: result.errorMessage)
        }
        return result.configs.map { entry in
            TopicConfig(
                name: entry.name, value: entry.value,
                isDefault: version == 0 ? entry.isDefault : entry.configSource == defaultSource,
                isReadOnly: entry.readOnly, isSensitive: entry.isSensitive)
        }.sorted { $0.name < $1.name }
    }
}
