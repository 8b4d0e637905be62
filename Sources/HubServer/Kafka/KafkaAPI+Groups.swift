import HubProtocol

/// The classic consumer group APIs, answered by the group coordinator (`groups`). They need the
/// consume role; without it a client gets GROUP_AUTHORIZATION_FAILED (and ListGroups lists
/// nothing).
extension KafkaAPI {
    /// JoinGroup (11): waits for the rebalance's join phase.
    func joinGroup(_ request: JoinGroupRequest, version: Int16, clientId: String, clientHost: String) async
        -> JoinGroupResponse
    {
        guard Self.may(.consume) else {
            var response = JoinGroupResponse(
                errorCode: ErrorCode.groupAuthorizationFailed.rawValue, memberId: request.memberId)
            if version >= 7 { response.protocolName = nil }
            return response
        }
        return await groups.joinGroup(request, version: version, clientId: clientId, clientHost: clientHost)
    }

    /// SyncGroup (14): followers wait for the leader's assignment.
    func syncGroup(_ request: SyncGroupRequest, version: Int16) async -> SyncGroupResponse {
        guard Self.may(.consume) else {
            return SyncGroupResponse(errorCode: ErrorCode.groupAuthorizationFailed.rawValue)
        }
        return await groups.syncGroup(request, version: version)
    }

    /// Heartbeat (12).
    func heartbeat(_ request: HeartbeatRequest, version: Int16) -> HeartbeatResponse {
        guard Self.may(.consume) else {
            return HeartbeatResponse(errorCode: ErrorCode.groupAuthorizationFailed.rawValue)
        }
        return groups.heartbeat(request, version: version)
    }

    /// LeaveGroup (13).
    func leaveGroup(_ request: LeaveGroupRequest, version: Int16) -> LeaveGroupResponse {
        guard Self.may(.consume) else {
            return LeaveGroupResponse(errorCode: ErrorCode.groupAuthorizationFailed.rawValue)
        }
        return groups.leaveGroup(request, version: version)
    }

    /// ListGroups (16): only the groups the principal may see, i.e. all or none.
    func listGroups(_ request: ListGroupsRequest, version: Int16) -> ListGroupsResponse {
        guard Self.may(.consume) else { return ListGroupsResponse() }
        return groups.listGroups(request, version: version)
    }

    /// DescribeGroups (15).
    func describeGroups(_ request: DescribeGroupsRequest, version: Int16) -> DescribeGroupsResponse {
        guard Self.may(.consume) else {
            return DescribeGroupsResponse(
                groups: request.groups.map {
                    DescribeGroupsResponse.DescribedGroup(
                        errorCode: ErrorCode.groupAuthorizationFailed.rawValue, groupId: $0)
                })
        }
        return groups.describeGroups(request, version: version)
    }

    /// Kafka's client host: "/" and the peer's IP, from the connection's remote address as NIO
    /// prints it ("[IPv4]127.0.0.1/127.0.0.1:50000" → "/127.0.0.1").
    static func clientHost(_ remoteAddress: String) -> String {
        guard let slash = remoteAddress.firstIndex(of: "/"), let colon = remoteAddress.lastIndex(of: ":"),
            slash < colon
        else { return remoteAddress }
        return String(remoteAddress[slash..<colon])
    }
}
