import HubProtocol
import NIOCore

/// A consumer group as ListGroups and DescribeGroups show it.
public struct GroupSummary: Sendable, Hashable {
    public var id: String
    public var state: String
    public var protocolType: String
    /// The assignor (e.g. "range"); empty when the group is not Stable.
    public var protocolName: String
    public var members: [Member]

    public struct Member: Sendable, Hashable {
        public var memberId: String
        public var instanceId: String?
        public var clientId: String
        public var clientHost: String
    }
}

/// A group's committed offset for one partition.
public struct CommittedOffset: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// -1 when nothing was committed.
    public var offset: Int64
    public var metadata: String?
}

extension HubClient {
    /// Every consumer group the broker knows, with its state.
    public func listGroups() async throws -> [GroupSummary] {
        let response = try await send(ListGroupsRequest())
        if response.errorCode != 0 {
            throw HubClientError.broker(ErrorCode(rawValue: response.errorCode), "list groups", message: nil)
        }
        return response.groups.map {
            GroupSummary(id: $0.groupId, state: $0.groupState, protocolType: $0.protocolType, protocolName: "", members: [])
        }.sorted { $0.id < $1.id }
    }

    /// State, protocol and members of groups.
    public func describeGroups(_ ids: [String]) async throws -> [GroupSummary] {
        var request = DescribeGroupsRequest()
        request.groups = ids
        let response = try await send(request)
        return try response.groups.map { group in
            if group.errorCode != 0 {
                throw HubClientError.broker(ErrorCode(rawValue: group.errorCode), "describe group \(group.groupId)", message: nil)
            }
            return GroupSummary(
                id: group.groupId, state: group.groupState, protocolType: group.protocolType,
                protocolName: group.protocolData,
                members: group.members.map {
                    .init(memberId: $0.memberId, instanceId: $0.groupInstanceId, clientId: $0.clientId, clientHost: $0.clientHost)
                })
        }
    }

    /// Every partition a group has committed an offset for.
    public func committedOffsets(group: String) async throws -> [CommittedOffset] {
        let version = try version(of: OffsetFetchRequest.self)
        var request = OffsetFetchRequest()
        if version >= 8 {
            request.groups = [OffsetFetchRequest.OffsetFetchRequestGroup(groupId: group, topics: nil)]
        } else {
            request.groupId = group
            request.topics = nil
        }
        let response = try await send(request)
        var result: [CommittedOffset] = []
        if version >= 8 {
            for answer in response.groups {
                if answer.errorCode != 0 {
                    throw HubClientError.broker(ErrorCode(rawValue: answer.errorCode), "offsets of \(group)", message: nil)
                }
                for topic in answer.topics {
                    for partition in topic.partitions where partition.errorCode == 0 {
                        result.append(.init(topic: topic.name, partition: partition.partitionIndex,
                            offset: partition.committedOffset, metadata: partition.metadata))
                    }
                }
            }
        } else {
            if response.errorCode != 0 {
                throw HubClientError.broker(ErrorCode(rawValue: response.errorCode), "offsets of \(group)", message: nil)
            }
            for topic in response.topics {
                for partition in topic.partitions where partition.errorCode == 0 {
                    result.append(.init(topic: topic.name, partition: partition.partitionIndex,
                        offset: partition.committedOffset, metadata: partition.metadata))
                }
            }
        }
        return result.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }
}
