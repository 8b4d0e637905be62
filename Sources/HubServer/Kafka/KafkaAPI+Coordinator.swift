import HubProtocol
import LogStore
import Logging
import NIOCore

extension KafkaAPI {
    /// FindCoordinator: this node coordinates every consumer group. Transactions are not
    /// supported, so transaction coordinators are not available.
    func findCoordinator(_ request: FindCoordinatorRequest, version: Int16) -> FindCoordinatorResponse {
        let keys = version < 4 ? [request.key] : request.coordinatorKeys
        let results = keys.map { key -> FindCoordinatorResponse.Coordinator in
            var coordinator = FindCoordinatorResponse.Coordinator()
            coordinator.key = key
            if !Self.may(.consume) {
                coordinator.errorCode = ErrorCode.groupAuthorizationFailed.rawValue
                coordinator.errorMessage = "this API key lacks the consume role"
                coordinator.nodeId = -1
                coordinator.port = -1
            } else if request.keyType != 0 {
                coordinator.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
                coordinator.errorMessage = "transactions are not supported by Hooklog"
                coordinator.nodeId = -1
                coordinator.port = -1
            } else if key.isEmpty {
                coordinator.errorCode = ErrorCode.invalidGroupId.rawValue
                coordinator.errorMessage = "the group id is empty"
                coordinator.nodeId = -1
                coordinator.port = -1
            } else {
                coordinator.nodeId = settings.nodeId
                coordinator.host = settings.advertisedHost
                coordinator.port = settings.advertisedPort
            }
            return coordinator
        }
        var response = FindCoordinatorResponse()
        if version < 4 {
            let only = results[0]
            response.errorCode = only.errorCode
            response.errorMessage = only.errorMessage
            response.nodeId = only.nodeId
            response.host = only.host
            response.port = only.port
        } else {
            response.coordinators = results
        }
        return response
    }

    /// OffsetCommit: stores the offsets in `__cursors` once the group allows the commit.
    func offsetCommit(_ request: OffsetCommitRequest, version: Int16) async -> OffsetCommitResponse {
        let allowed = commitAllowed(
            group: request.groupId, generation: request.generationIdOrMemberEpoch, member: request.memberId)
        var commits: [(CommittedOffsets.Key, CommittedOffsets.Entry)] = []
        var response = OffsetCommitResponse()
        let now = wallClockMilliseconds()
        for topic in request.topics {
            var topicResponse = OffsetCommitResponse.OffsetCommitResponseTopic()
            topicResponse.name = topic.name
            for partition in topic.partitions {
                var result = OffsetCommitResponse.OffsetCommitResponsePartition()
                result.partitionIndex = partition.partitionIndex
                if allowed != .none {
                    result.errorCode = allowed.rawValue
                } else if (try? logs.log(topic: topic.name, partition: Int(partition.partitionIndex))) == nil {
                    result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                } else if let metadata = partition.committedMetadata, metadata.utf8.count > 4096 {
                    result.errorCode = ErrorCode.offsetMetadataTooLarge.rawValue
                } else {
                    commits.append(
                        (
                            CommittedOffsets.Key(
                                group: request.groupId, topic: topic.name, partition: partition.partitionIndex),
                            CommittedOffsets.Entry(
                                offset: partition.committedOffset, metadata: partition.committedMetadata,
                                commitTimestamp: now)
                        ))
                }
                topicResponse.partitions.append(result)
            }
            response.topics.append(topicResponse)
        }
        do {
            try await offsets.commit(commits)
        } catch {
            logger.error("offset commit failed", metadata: ["group": "\(request.groupId)", "error": "\(error)"])
            let code = error.kafkaErrorCode == .kafkaStorageError ? ErrorCode.coordinatorNotAvailable : error.kafkaErrorCode
            for t in response.topics.indices {
                for p in response.topics[t].partitions.indices where response.topics[t].partitions[p].errorCode == 0 {
                    response.topics[t].partitions[p].errorCode = code.rawValue
                }
            }
        }
        return response
    }

    /// OffsetFetch: committed offsets (-1 where none), for the listed partitions or, with a null
    /// topic list, every partition the group committed.
    func offsetFetch(_ request: OffsetFetchRequest, version: Int16) -> OffsetFetchResponse {
        var response = OffsetFetchResponse()
        guard Self.may(.consume) else {
            response.errorCode = ErrorCode.groupAuthorizationFailed.rawValue
            response.groups = request.groups.map { group in
                var result = OffsetFetchResponse.OffsetFetchResponseGroup()
                result.groupId = group.groupId
                result.errorCode = ErrorCode.groupAuthorizationFailed.rawValue
                return result
            }
            return response
        }
        if version < 8 {
            response.topics = fetchCommitted(group: request.groupId, topics: request.topics.map { topics in
                topics.map { ($0.name, $0.partitionIndexes) }
            }).map { name, partitions in
                var topic = OffsetFetchResponse.OffsetFetchResponseTopic()
                topic.name = name
                topic.partitions = partitions.map { index, entry in
                    var partition = OffsetFetchResponse.OffsetFetchResponsePartition()
                    partition.partitionIndex = index
                    partition.committedOffset = entry?.offset ?? -1
                    partition.metadata = entry?.metadata ?? ""
                    return partition
                }
                return topic
            }
        } else {
            response.groups = request.groups.map { group in
                var result = OffsetFetchResponse.OffsetFetchResponseGroup()
                result.groupId = group.groupId
                result.topics = fetchCommitted(group: group.groupId, topics: group.topics.map { topics in
                    topics.map { ($0.name, $0.partitionIndexes) }
                }).map { name, partitions in
                    var topic = OffsetFetchResponse.OffsetFetchResponseTopics()
                    topic.name = name
                    topic.partitions = partitions.map { index, entry in
                        var partition = OffsetFetchResponse.OffsetFetchResponsePartitions()
                        partition.partitionIndex = index
                        partition.committedOffset = entry?.offset ?? -1
                        partition.metadata = entry?.metadata ?? ""
                        return partition
                    }
                    return topic
                }
                return result
            }
        }
        return response
    }

    private func fetchCommitted(group: String, topics: [(String, [Int32])]?) -> [(String, [(Int32, CommittedOffsets.Entry?)])] {
        if let topics {
            return topics.map { name, partitions in
                (name, partitions.map { ($0, offsets.committed(.init(group: group, topic: name, partition: $0))) })
            }
        }
        var byTopic: [String: [(Int32, CommittedOffsets.Entry?)]] = [:]
        for (key, entry) in offsets.committed(group: group) {
            byTopic[key.topic, default: []].append((key.partition, entry))
        }
        return byTopic.keys.sorted().map { ($0, byTopic[$0]!.sorted { $0.0 < $1.0 }) }
    }
}
