import HubProtocol
import LogStore
import Logging
import NIOCore

extension KafkaAPI {
    /// Resource types of DescribeConfigs.
    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    /// CreateTopics: partitions (-1 = the default) and configs; replication factor 1 (or -1).
    func createTopics(_ request: CreateTopicsRequest, version: Int16) -> CreateTopicsResponse {
        var response = CreateTopicsResponse()
        response.topics = request.topics.map { topic in
            var result = CreateTopicsResponse.CreatableTopicResult()
            result.name = topic.name
            var configs: [String: String] = [:]
            for config in topic.configs { configs[config.name] = config.value }
            do {
                guard Self.may(.admin) else { throw AuthorizationFailure(code: .topicAuthorizationFailed) }
                if topic.replicationFactor != -1 && topic.replicationFactor != 1 {
                    result.errorCode = ErrorCode.invalidReplicationFactor.rawValue
                    result.errorMessage = "Hooklog is a single node: the replication factor must be 1"
                    return result
                }
                if !topic.assignments.isEmpty {
                    result.errorCode = ErrorCode.invalidReplicaAssignment.rawValue
                    result.errorMessage = "manual replica assignment is not supported"
                    return result
                }
                let partitions = topic.numPartitions == -1 ? nil : Int(topic.numPartitions)
                if let partitions, partitions < 1 {
                    result.errorCode = ErrorCode.invalidPartitions.rawValue
                    result.errorMessage = "a topic needs at least one partition"
                    return result
                }
                if topic.name.hasPrefix("__") {
                    throw LogStoreError(.invalidTopic, "names starting with __ are reserved for internal topics")
                }
                let metadata: TopicMetadata
                let config: LogConfig
                if request.validateOnly {
                    try TopicMetadata.validate(name: topic.name)
                    if logs.metadata(of: topic.name) != nil {
                        throw LogStoreError(.topicAlreadyExists, "topic '\(topic.name)' already exists")
                    }
                    config = try logs.configuration.defaultTopicConfig.applying(configs)
                    metadata = TopicMetadata(
                        name: topic.name, partitions: partitions ?? logs.configuration.defaultPartitions)
                } else {
                    metadata = try logs.createTopic(topic.name, partitions: partitions, config: configs)
                    config = logs.config(of: topic.name) ?? logs.configuration.defaultTopicConfig
                    logger.info("created topic", metadata: ["topic": "\(topic.name)", "partitions": "\(metadata.partitions)"])
                }
                result.topicId = Uuid(metadata.id)
                result.numPartitions = Int32(metadata.partitions)
                result.replicationFactor = 1
                result.configs = config.properties.map { property in
                    var entry = CreateTopicsResponse.CreatableTopicConfigs()
                    entry.name = property.name
                    entry.value = property.value
                    entry.configSource = configs[property.name] != nil ? 1 : 5  // topic override : default
                    return entry
                }
            } catch {
                if error.isStorageFailure {
                    logger.error("create topic failed", metadata: ["topic": "\(topic.name)", "error": "\(error)"])
                }
                result.errorCode = error.kafkaErrorCode.rawValue
                result.errorMessage = error.kafkaMessage
            }
            return result
        }
        return response
    }

    /// DeleteTopics, by name (v1–5) or by name or id (v6).
    func deleteTopics(_ request: DeleteTopicsRequest, version: Int16) async -> DeleteTopicsResponse {
        var targets: [(name: String?, id: Uuid)] = request.topicNames.map { ($0, Uuid.zero) }
        targets += request.topics.map { ($0.name, $0.topicId) }
        var response = DeleteTopicsResponse()
        for target in targets {
            var result = DeleteTopicsResponse.DeletableTopicResult()
            result.name = target.name
            result.topicId = target.id
            let name =
                target.name
                ?? logs.topicList.first(where: { $0.id == target.id.foundationUUID })?.name
            do {
                guard let name else {
                    result.errorCode = ErrorCode.unknownTopicId.rawValue
                    response.responses.append(result)
                    continue
                }
                result.name = name
                if !Self.may(.admin) {
                    result.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
                    result.errorMessage = "deleting topics needs the admin role"
                } else if name.hasPrefix("__") {
                    result.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
                    result.errorMessage = "internal topics cannot be deleted"
                } else {
                    if let metadata = logs.metadata(of: name) { result.topicId = Uuid(metadata.id) }
                    try await logs.deleteTopic(name)
                    logger.info("deleted topic", metadata: ["topic": "\(name)"])
                }
            } catch {
                result.errorCode = error.kafkaErrorCode.rawValue
                result.errorMessage = error.kafkaMessage
            }
            response.responses.append(result)
        }
        return response
    }

    /// DeleteRecords: moves each partition's log start offset (-1 means the high watermark).
    func deleteRecords(_ request: DeleteRecordsRequest, version: Int16) async -> DeleteRecordsResponse {
        var response = DeleteRecordsResponse()
        for topic in request.topics {
            var topicResult = DeleteRecordsResponse.DeleteRecordsTopicResult()
            topicResult.name = topic.name
            for partition in topic.partitions {
                var result = DeleteRecordsResponse.DeleteRecordsPartitionResult()
                result.partitionIndex = partition.partitionIndex
                result.lowWatermark = -1
                do {
                    if topic.name.hasPrefix("__") || !Self.may(.admin) {
                        result.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
                    } else {
                        let log = try logs.log(topic: topic.name, partition: Int(partition.partitionIndex))
                        let target = partition.offset == -1 ? log.highWatermark : partition.offset
                        result.lowWatermark = try await log.deleteRecords(before: target)
                        logger.info(
                            "deleted records", metadata: ["partition": "\(topic.name)-\(partition.partitionIndex)", "before": "\(target)"])
                    }
                } catch {
                    result.errorCode = error.kafkaErrorCode.rawValue
                }
                topicResult.partitions.append(result)
            }
            response.topics.append(topicResult)
        }
        return response
    }

    /// DescribeConfigs for topics (every LogConfig setting, overrides marked) and the broker.
    func describeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        var response = DescribeConfigsResponse()
        response.results = request.resources.map { resource in
            var result = DescribeConfigsResponse.DescribeConfigsResult()
            result.resourceType = resource.resourceType
            result.resourceName = resource.resourceName
            var entries: [(name: String, value: String, isOverride: Bool)] = []
            guard Self.may(.admin) || (resource.resourceType == Self.topicResource && Self.may(.consume, topic: resource.resourceName))
            else {
                result.errorCode =
                    (resource.resourceType == Self.topicResource ? ErrorCode.topicAuthorizationFailed : .clusterAuthorizationFailed).rawValue
                return result
            }
            switch resource.resourceType {
            case Self.topicResource:
                guard let metadata = logs.metadata(of: resource.resourceName),
                    let config = logs.config(of: resource.resourceName)
                else {
                    result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "topic '\(resource.resourceName)' does not exist"
                    return result
                }
                entries = config.properties.map { ($0.name, $0.value, metadata.configOverrides[$0.name] != nil) }
            case Self.brokerResource:
                let defaults = logs.configuration.defaultTopicConfig
                entries = [
                    ("num.partitions", String(logs.configuration.defaultPartitions), false),
                    ("auto.create.topics.enable", String(settings.autoCreateTopics), false),
                    ("log.segment.bytes", String(defaults.segmentBytes), false),
                    ("log.retention.ms", String(defaults.retentionMs), false),
                    ("message.max.bytes", String(defaults.maxMessageBytes), false),
                ]
            default:
                result.errorCode = ErrorCode.invalidRequest.rawValue
                result.errorMessage = "resource type \(resource.resourceType) is not supported"
                return result
            }
            if let keys = resource.configurationKeys {
                entries = entries.filter { keys.contains($0.name) }
            }
            result.configs = entries.map { entry in
                var config = DescribeConfigsResponse.DescribeConfigsResourceResult()
                config.name = entry.name
                config.value = entry.value
                config.readOnly = resource.resourceType == Self.brokerResource
                config.isDefault = !entry.isOverride
                // 1 = dynamic topic config, 5 = default config, 4 = static broker config.
                config.configSource = resource.resourceType == Self.brokerResource ? 4 : (entry.isOverride ? 1 : 5)
                config.configType = Int8(Self.configType(entry.name))
                return config
            }
            return result
        }
        return response
    }

    /// DescribeConfigs v3+ config types: 1 boolean, 2 string, 3 int, 4 short, 5 long, 7 list.
    private static func configType(_ name: String) -> Int {
        switch name {
        case "cleanup.policy": 7
        case "flush.policy": 2
        case "auto.create.topics.enable": 1
        case "segment.bytes", "max.message.bytes", "index.interval.bytes", "segment.index.bytes", "num.partitions",
            "log.segment.bytes", "message.max.bytes":
            3
        default: 5
        }
    }
}
