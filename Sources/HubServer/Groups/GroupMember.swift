import NIOCore

/// One member of a classic consumer group as the coordinator tracks it: who it is, what it
/// supports, what it was assigned, and whether it is parked in a JoinGroup or SyncGroup.
///
/// Only touched while holding the coordinator's lock.
final class GroupMember {
    /// Changes only when a static member rejoins and replaces its old member id.
    var memberId: String
    /// `group.instance.id` of a static member (KIP-345); nil for a dynamic one.
    let groupInstanceId: String?
    let clientId: String
    let clientHost: String
    let protocolType: String
    /// The protocols the member supports, most preferred first.
    var protocols: [GroupCoordinator.MemberProtocol]
    var rebalanceTimeout: Duration
    var sessionTimeout: Duration
    /// The member's assignment in the current generation (empty until the leader's SyncGroup).
    var assignment = ByteBuffer()

    /// Joined in the current rebalance and owed a JoinGroup answer. Stays true when the parked
    /// request is cancelled (its connection died): like Kafka, the member still counts as joined.
    var isAwaitingJoin = false
    /// The parked JoinGroup request, if any.
    var joinWaiter: UInt64?
    /// Sent SyncGroup in CompletingRebalance and waits for the leader's assignment.
    var isAwaitingSync = false
    var syncWaiter: UInt64?
    /// Joined but not yet part of a completed generation: such a member may time out while it
    /// waits for the rebalance (the new-member join timeout), since it cannot heartbeat yet.
    var isNew = false

    init(
        memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, protocolType: String,
        protocols: [GroupCoordinator.MemberProtocol], rebalanceTimeout: Duration, sessionTimeout: Duration
    ) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.protocolType = protocolType
        self.protocols = protocols
        self.rebalanceTimeout = rebalanceTimeout
        self.sessionTimeout = sessionTimeout
    }

    var isStatic: Bool { groupInstanceId != nil }

    /// Whether a rejoin brings exactly the same protocols and metadata (then a follower's rejoin
    /// needs no rebalance).
    func matches(_ other: [GroupCoordinator.MemberProtocol]) -> Bool {
        protocols == other
    }

    /// The member's vote among protocols every member supports: its most preferred one.
    func vote(among candidates: Set<String>) -> String? {
        protocols.first { candidates.contains($0.name) }?.name
    }

    /// The metadata the member sent for `protocolName`.
    func metadata(for protocolName: String) -> ByteBuffer {
        protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
    }

    /// Whether a session timeout that fires now can be ignored. Members parked in a rebalance
    /// cannot heartbeat and satisfy it, except new members, whose join may time out.
    var hasSatisfiedHeartbeat: Bool {
        if isNew { return false }
        return isAwaitingJoin || isAwaitingSync
    }
}
