import HubProtocol
import NIOCore

/// The group APIs in Kafka's wire messages: version differences are settled here, the
/// coordinator sees one request shape per API.
extension GroupCoordinator {
    /// The ACL operations DescribeGroups reports when asked (READ, DELETE, DESCRIBE as bits of
    /// their codes 3, 6 and 8): everything a group supports, since Hooklog has no authorizer.
    static let groupAuthorizedOperations: Int32 = 1 << 3 | 1 << 6 | 1 << 8

    /// JoinGroup v0-9. v0 has no rebalance timeout (the session timeout serves); v4+ members
    /// without an id get MEMBER_ID_REQUIRED; v5+ carry group.instance.id; v9 may skip assignment.
    func joinGroup(_ request: JoinGroupRequest, version: Int16, clientId: String, clientHost: String) async
        -> JoinGroupResponse
    {
        let result = await join(
            JoinRequest(
                groupId: request.groupId, memberId: request.memberId,
                groupInstanceId: version >= 5 ? request.groupInstanceId : nil, clientId: clientId,
                clientHost: clientHost, sessionTimeoutMs: request.sessionTimeoutMs,
                rebalanceTimeoutMs: version == 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs,
                protocolType: request.protocolType,
                protocols: request.protocols.map { MemberProtocol(name: $0.name, metadata: $0.metadata) },
                requireKnownMemberId: version >= 4, supportsSkippingAssignment: version >= 9,
                reason: request.reason))
        var response = JoinGroupResponse()
        response.errorCode = result.error.rawValue
        response.generationId = result.generationId
        response.protocolType = result.protocolType
        // The protocol name is nullable from v7 only.
        response.protocolName = version >= 7 ? result.protocolName : (result.protocolName ?? "")
        response.leader = result.leader
        response.skipAssignment = result.skipAssignment
        response.memberId = result.memberId
        response.members = result.members.map {
            JoinGroupResponse.JoinGroupResponseMember(
                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata)
        }
        return response
    }

    /// SyncGroup v0-5. From v5 the protocol type and name are mandatory, as Kafka checks.
    func syncGroup(_ request: SyncGroupRequest, version: Int16) async -> SyncGroupResponse {
        var response = SyncGroupResponse()
        if version >= 5 && (request.protocolType == nil || request.protocolName == nil) {
            response.errorCode = ErrorCode.inconsistentGroupProtocol.rawValue
            return response
        }
        let result = await sync(
            SyncRequest(
                groupId: request.groupId, generationId: request.generationId, memberId: request.memberId,
                groupInstanceId: request.groupInstanceId, protocolType: request.protocolType,
                protocolName: request.protocolName,
                assignments: Dictionary(
                    request.assignments.map { ($0.memberId, $0.assignment) }, uniquingKeysWith: { _, last in last })))
        response.errorCode = result.error.rawValue
        response.protocolType = result.protocolType
        response.protocolName = result.protocolName
        response.assignment = result.assignment
        return response
    }

    /// Heartbeat v0-4.
    func heartbeat(_ request: HeartbeatRequest, version: Int16) -> HeartbeatResponse {
        let error = heartbeat(
            groupId: request.groupId, memberId: request.memberId, groupInstanceId: request.groupInstanceId,
            generationId: request.generationId)
        return HeartbeatResponse(errorCode: error.rawValue)
    }

    /// LeaveGroup v0-5. v0-2 name one member and answer with one error code (the request's, else
    /// the member's); v3+ name several members and answer per member.
    func leaveGroup(_ request: LeaveGroupRequest, version: Int16) -> LeaveGroupResponse {
        let leaving =
            version >= 3
            ? request.members.map {
                LeavingMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, reason: $0.reason)
            }
            : [LeavingMember(memberId: request.memberId)]
        let result = leave(groupId: request.groupId, members: leaving)
        var response = LeaveGroupResponse()
        if version >= 3 {
            response.errorCode = result.error.rawValue
            response.members = result.members.map {
                LeaveGroupResponse.MemberResponse(
                    memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, errorCode: $0.error.rawValue)
            }
        } else {
            let memberError = result.members.first { $0.error != .none }?.error ?? .none
            response.errorCode = (result.error != .none ? result.error : memberError).rawValue
        }
        return response
    }

    /// ListGroups v0-5: the states filter is v4+, the types filter v5+ (every group here is
    /// "classic").
    func listGroups(_ request: ListGroupsRequest, version: Int16) -> ListGroupsResponse {
        let (error, groups) = listGroups(
            states: version >= 4 ? request.statesFilter : [], types: version >= 5 ? request.typesFilter : [])
        var response = ListGroupsResponse()
        response.errorCode = error.rawValue
        response.groups = groups.map {
            ListGroupsResponse.ListedGroup(
                groupId: $0.groupId, protocolType: $0.protocolType, groupState: $0.state.rawValue, groupType: "classic")
        }
        return response
    }

    /// DescribeGroups v0-5. Unknown groups are described as "Dead" without error, as Kafka does
    /// before v6.
    func describeGroups(_ request: DescribeGroupsRequest, version: Int16) -> DescribeGroupsResponse {
        var response = DescribeGroupsResponse()
        response.groups = request.groups.map { groupId in
            let description = describeGroup(groupId)
            var group = DescribeGroupsResponse.DescribedGroup()
            group.errorCode = description.error.rawValue
            group.groupId = groupId
            group.groupState = description.state
            group.protocolType = description.protocolType
            group.protocolData = description.protocolName
            group.members = description.members.map {
                DescribeGroupsResponse.DescribedGroupMember(
                    memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                    clientHost: $0.clientHost, memberMetadata: $0.metadata, memberAssignment: $0.assignment)
            }
            if version >= 3 && request.includeAuthorizedOperations {
                group.authorizedOperations = Self.groupAuthorizedOperations
            }
            return group
        }
        return response
    }
}
