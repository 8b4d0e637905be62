import HubProtocol

/// The state of a classic group, named as Kafka prints it (DescribeGroups, ListGroups).
enum GroupState: String, Sendable, CaseIterable {
    /// No members (new, everyone left, or only committed offsets).
    case empty = "Empty"
    /// Waiting for members to (re)join.
    case preparingRebalance = "PreparingRebalance"
    /// Joined; waiting for the leader's assignment.
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    /// Only reported for unknown groups; a deleted group is simply gone.
    case dead = "Dead"
}

/// One classic (pre-KIP-848) consumer group: membership, protocols, generation and leader.
/// The rebalance state machine that drives it lives in `CoordinatorState`.
///
/// Only touched while holding the coordinator's lock.
final class ClassicGroup {
    /// What the join-phase timer does when it fires.
    enum JoinTimer {
        /// group.initial.rebalance.delay.ms for a group that was Empty: extended by up to `delay`
        /// while new members keep arriving, for at most `remaining` more.
        case initialDelay(delay: Duration, remaining: Duration)
        /// The rebalance timeout: members that have not rejoined are removed.
        case rebalanceTimeout
    }

    let groupId: String
    private(set) var state = GroupState.empty
    private(set) var previousState = GroupState.empty
    var generationId: Int32 = 0
    /// Set by the first member to join; kept while the group is Empty.
    var protocolType: String?
    /// The protocol chosen for the current generation; nil while Empty.
    var protocolName: String?
    var leaderId: String?
    /// Members in the order they joined (the leader falls back to the oldest one).
    private(set) var members: [GroupMember] = []
    /// group.instance.id → member id.
    private(set) var staticMembers: [String: String] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED whose owners have not joined yet (KIP-394).
    var pendingMembers: Set<String> = []
    /// Members of the current generation that have not sent SyncGroup yet.
    var pendingSyncMembers: Set<String> = []
    /// A member joined during the initial delay, which therefore extends.
    var newMemberAdded = false
    var joinTimer: JoinTimer?
    /// The generation the pending-sync timer was started for.
    var syncTimerGeneration: Int32 = -1

    init(groupId: String) {
        self.groupId = groupId
    }

    func transition(to newState: GroupState) {
        previousState = state
        state = newState
    }

    /// A rebalance can start from these states; in PreparingRebalance one is already running.
    var canRebalance: Bool { state == .stable || state == .completingRebalance || state == .empty }

    func member(_ memberId: String) -> GroupMember? {
        members.first { $0.memberId == memberId }
    }

    func has(_ memberId: String) -> Bool { member(memberId) != nil }

    func isLeader(_ memberId: String) -> Bool { leaderId == memberId }

    func staticMemberId(_ groupInstanceId: String) -> String? { staticMembers[groupInstanceId] }

    /// Adds a member; the first one sets the group's protocol type and becomes leader if there
    /// is none.
    func add(_ member: GroupMember) {
        if members.isEmpty { protocolType = member.protocolType }
        if leaderId == nil { leaderId = member.memberId }
        members.append(member)
        if let instance = member.groupInstanceId { staticMembers[instance] = member.memberId }
        pendingMembers.remove(member.memberId)
    }

    /// Removes a member (or a pending member id); the oldest remaining member takes over as
    /// leader.
    @discardableResult
    func remove(_ memberId: String) -> GroupMember? {
        pendingMembers.remove(memberId)
        pendingSyncMembers.remove(memberId)
        guard let index = members.firstIndex(where: { $0.memberId == memberId }) else { return nil }
        let member = members.remove(at: index)
        if let instance = member.groupInstanceId, staticMembers[instance] == memberId {
            staticMembers[instance] = nil
        }
        if leaderId == memberId { leaderId = members.first?.memberId }
        return member
    }

    /// Gives a static member a new member id (a restarted instance), keeping its assignment and
    /// place. The caller answers requests still parked under the old id first.
    func replaceStaticMember(_ member: GroupMember, newMemberId: String) {
        let oldMemberId = member.memberId
        member.memberId = newMemberId
        if let instance = member.groupInstanceId { staticMembers[instance] = newMemberId }
        if leaderId == oldMemberId { leaderId = newMemberId }
        if pendingSyncMembers.remove(oldMemberId) != nil { pendingSyncMembers.insert(newMemberId) }
    }

    /// Every member has rejoined and no member id handed out with MEMBER_ID_REQUIRED is still
    /// expected.
    var hasAllMembersJoined: Bool {
        pendingMembers.isEmpty && members.allSatisfy(\.isAwaitingJoin)
    }

    /// Keeps the leader if it rejoined, else picks the oldest member that did. False when no
    /// member rejoined (or the group has no leader).
    func maybeElectNewJoinedLeader() -> Bool {
        guard let leaderId, let leader = member(leaderId) else { return false }
        if leader.isAwaitingJoin { return true }
        guard let joined = members.first(where: \.isAwaitingJoin) else { return false }
        self.leaderId = joined.memberId
        return true
    }

    /// The largest rebalance timeout among the members: how long a rebalance waits for rejoins.
    var rebalanceTimeout: Duration {
        members.map(\.rebalanceTimeout).max() ?? .zero
    }

    /// Whether a member with this protocol type and these protocols may join: anything
    /// non-empty when the group is Empty, else the group's protocol type and at least one
    /// protocol every current member supports.
    func supportsProtocols(type: String, names: [String]) -> Bool {
        if state == .empty { return !type.isEmpty && !names.isEmpty }
        guard protocolType == type else { return false }
        return names.contains { name in members.allSatisfy { $0.protocols.contains { $0.name == name } } }
    }

    /// Kafka's choice: among the protocols every member supports, each member votes for its most
    /// preferred one and the most voted wins (ties go to the leader's preference order).
    func selectProtocol() -> String? {
        guard let first = members.first else { return nil }
        let candidates = Set(first.protocols.map(\.name).filter { name in
            members.allSatisfy { $0.protocols.contains { $0.name == name } }
        })
        var votes: [String: Int] = [:]
        for member in members {
            if let vote = member.vote(among: candidates) { votes[vote, default: 0] += 1 }
        }
        let preference = (leaderId.flatMap(member) ?? first).protocols.map(\.name)
        var best: String?
        for name in preference where candidates.contains(name) {
            if best == nil || votes[name, default: 0] > votes[best!, default: 0] { best = name }
        }
        return best
    }

    /// Checks a request's member id and group instance id: a known instance id must belong to
    /// this member id (else FENCED_INSTANCE_ID), and the member must exist.
    func validateMember(_ memberId: String, groupInstanceId: String?) -> ErrorCode? {
        if let groupInstanceId {
            guard let existing = staticMembers[groupInstanceId] else { return .unknownMemberId }
            if existing != memberId { return .fencedInstanceId }
        }
        return has(memberId) ? nil : .unknownMemberId
    }

    /// The member list the leader receives: every member's metadata for the chosen protocol.
    func joinedMembers() -> [GroupCoordinator.JoinedMember] {
        guard let protocolName else { return [] }
        return members.map {
            GroupCoordinator.JoinedMember(
                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: protocolName))
        }
    }
}
