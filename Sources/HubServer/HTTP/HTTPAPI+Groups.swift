import HubProtocol
import Hummingbird
import LogStore

/// `/groups`: Kafka consumer groups, their members, committed offsets and lag.
extension HTTPAPI {
    struct GroupSummary: Encodable {
        var id: String
        var state: String
        var protocolType: String
    }

    struct GroupMemberView: Encodable {
        var memberId: String
        var groupInstanceId: String?
        var clientId: String
        var clientHost: String
    }

    struct GroupOffsetView: Encodable {
        var topic: String
        var partition: Int
        var committedOffset: Int64
        var endOffset: Int64?
        var lag: Int64?
        var metadata: String?
    }

    struct GroupDetail: Encodable {
        var id: String
        var state: String
        var protocolType: String
        var members: [GroupMemberView]
        var offsets: [GroupOffsetView]
        var lag: Int64
    }

    func addGroupRoutes(to router: Router<HubRequestContext>) {
        router.route(.get, "/groups", in: routes) { _, context in
            try context.require(.consume)
            let listed = groups.listGroups(ListGroupsRequest(), version: 4).groups.map {
                GroupSummary(id: $0.groupId, state: $0.groupState, protocolType: $0.protocolType)
            }
            return try Self.json(["groups": listed.sorted { $0.id < $1.id }])
        }
        router.route(.get, "/groups/:id", in: routes) { _, context in
            try context.require(.consume)
            let id = try Self.parameter("id", context)
            var request = DescribeGroupsRequest()
            request.groups = [id]
            guard let described = groups.describeGroups(request, version: 5).groups.first,
                described.errorCode == 0, described.groupState != "Dead"
            else { throw APIError.notFound("no consumer group '\(id)'") }
            var offsets: [GroupOffsetView] = []
            for (key, entry) in self.offsets.committed(group: id) {
                let end = try? logs.log(topic: key.topic, partition: Int(key.partition)).highWatermark
                offsets.append(
                    GroupOffsetView(
                        topic: key.topic, partition: Int(key.partition), committedOffset: entry.offset, endOffset: end,
                        lag: end.map { max(0, $0 - entry.offset) }, metadata: entry.metadata))
            }
            offsets.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            let detail = GroupDetail(
                id: id, state: described.groupState, protocolType: described.protocolType,
                members: described.members.map {
                    GroupMemberView(
                        memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                        clientHost: $0.clientHost)
                }, offsets: offsets, lag: offsets.reduce(0) { $0 + ($1.lag ?? 0) })
            return try Self.json(detail)
        }
    }
}
