import HubProtocol
import LogStore
import Logging
import NIOCore

extension KafkaAPI {
    /// Metadata: this one broker leads every partition. Unknown topics asked for by name are
    /// created when auto-creation is on; internal topics are listed only when asked for by name.
    func metadata(_ request: MetadataRequest, version: Int16) -> MetadataResponse {
        var response = MetadataResponse()
        var broker = MetadataResponse.MetadataResponseBroker()
        broker.nodeId = settings.nodeId
        broker.host = settings.advertisedHost
        broker.port = settings.advertisedPort
        response.brokers = [broker]
        response.clusterId = settings.clusterId
        response.controllerId = settings.nodeId

        // v0: an empty list means all topics; v1+: null means all, empty means none.
        let all = request.topics == nil || (version == 0 && request.topics?.isEmpty == true)
        if all {
            response.topics = logs.topicList.filter { !$0.isInternal }.map { describe($0) }
            return response
        }
        let allowCreate = settings.autoCreateTopics && (version < 4 || request.allowAutoTopicCreation)
        for requested in request.topics ?? [] {
            if let name = requested.name {
                response.topics.append(describe(name: name, create: allowCreate))
            } else if let metadata = logs.topicList.first(where: { $0.id == requested.topicId.foundationUUID }) {
                response.topics.append(describe(metadata))
            } else {
                var unknown = MetadataResponse.MetadataResponseTopic()
                unknown.errorCode = ErrorCode.unknownTopicId.rawValue
                unknown.topicId = requested.topicId
                response.topics.append(unknown)
            }
        }
        return response
    }

    private func describe(name: String, create: Bool) -> MetadataResponse.MetadataResponseTopic {
        if let metadata = logs.metadata(of: name) { return describe(metadata) }
        var topic = MetadataResponse.MetadataResponseTopic()
        topic.name = name
        do {
            try TopicMetadata.validate(name: name)
            guard create, !name.hasPrefix("__"), Self.may(.produce) || Self.may(.admin) else {
                topic.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                return topic
            }
            let metadata = try logs.createTopic(name)
            logger.info("auto-created topic", metadata: ["topic": "\(name)", "partitions": "\(metadata.partitions)"])
            return describe(metadata)
        } catch let error as LogStoreError where error.code == .topicAlreadyExists {
            // Created concurrently by another request.
            return logs.metadata(of: name).map(describe) ?? topic
        } catch {
            if error.isStorageFailure {
                logger.error("auto-create failed", metadata: ["topic": "\(name)", "error": "\(error)"])
            }
            topic.errorCode = error.kafkaErrorCode.rawValue
            return topic
        }
    }

    private func describe(_ metadata: TopicMetadata) -> MetadataResponse.MetadataResponseTopic {
        var topic = MetadataResponse.MetadataResponseTopic()
        topic.name = metadata.name
        topic.topicId = Uuid(metadata.id)
        topic.isInternal = metadata.isInternal
        topic.partitions = (0..<metadata.partitions).map { index in
            var partition = MetadataResponse.MetadataResponsePartition()
            partition.partitionIndex = Int32(index)
            partition.leaderId = settings.nodeId
            partition.leaderEpoch = 0
            partition.replicaNodes = [settings.nodeId]
            partition.isrNodes = [settings.nodeId]
            if let log = try? logs.log(topic: metadata.name, partition: index), log.offlineError != nil {
                partition.errorCode = ErrorCode.kafkaStorageError.rawValue
                partition.offlineReplicas = [settings.nodeId]
            }
            return partition
        }
        return topic
    }

    /// ListOffsets: earliest (-2), latest (-1: the high watermark), max timestamp (-3), or the
    /// first offset at or after a timestamp.
    func listOffsets(_ request: ListOffsetsRequest, version: Int16) -> ListOffsetsResponse {
        var response = ListOffsetsResponse()
        response.topics = request.topics.map { topic in
            var topicResponse = ListOffsetsResponse.ListOffsetsTopicResponse()
            topicResponse.name = topic.name
            topicResponse.partitions = topic.partitions.map { partition in
                var result = ListOffsetsResponse.ListOffsetsPartitionResponse()
                result.partitionIndex = partition.partitionIndex
                result.timestamp = -1
                result.offset = -1
                result.leaderEpoch = 0
                do {
                    guard Self.may(.consume, topic: topic.name) else {
                        throw AuthorizationFailure(code: .topicAuthorizationFailed)
                    }
                    let log = try logs.log(topic: topic.name, partition: Int(partition.partitionIndex))
                    switch partition.timestamp {
                    case -1: result.offset = log.highWatermark
                    case -2: result.offset = log.logStartOffset
                    case -3:
                        let newest = log.info.segments.map(\.maxTimestamp).max() ?? -1
                        if newest >= 0, let found = try log.offset(forTimestamp: newest) {
                            (result.offset, result.timestamp) = found
                        }
                    default:
                        if let found = try log.offset(forTimestamp: partition.timestamp) {
                            (result.offset, result.timestamp) = found
                        }
                    }
                } catch {
                    result.errorCode = error.kafkaErrorCode.rawValue
                }
                return result
            }
            return topicResponse
        }
        return response
    }
}
