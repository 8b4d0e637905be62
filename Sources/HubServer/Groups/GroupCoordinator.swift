import HubProtocol
import Logging
import NIOCore
import Synchronization

/// The classic (pre-KIP-848) consumer group coordinator of this single broker: group
/// membership, rebalances (JoinGroup / SyncGroup), heartbeats and session expiry, LeaveGroup,
/// static membership (KIP-345), member ids required on join (KIP-394), and the group checks an
/// offset commit needs. Behaves as Kafka's GroupCoordinator does for classic groups.
///
/// Groups live in memory: a restart forgets members and generations (clients rejoin); the
/// committed offsets are kept elsewhere.
///
/// JoinGroup and SyncGroup answers wait for the rebalance; `close()` answers every parked
/// request so that connections can drain.
final class GroupCoordinator: Sendable {
    /// Broker settings for groups, with Kafka's defaults.
    struct Configuration: Sendable {
        /// group.min.session.timeout.ms
        var minSessionTimeout: Duration = .milliseconds(6000)
        /// group.max.session.timeout.ms
        var maxSessionTimeout: Duration = .milliseconds(1_800_000)
        /// group.initial.rebalance.delay.ms: how long the first rebalance of an Empty group waits
        /// for more members (extended while they keep arriving, up to the rebalance timeout).
        var initialRebalanceDelay: Duration = .milliseconds(3000)
        /// How long a new member may wait in its first JoinGroup before it is dropped (it cannot
        /// heartbeat yet, and a client that gave up would otherwise linger in the rebalance).
        var newMemberJoinTimeout: Duration = .milliseconds(300_000)

        init() {}
    }

    /// A protocol a member supports (for consumers: an assignor name and its subscription).
    struct MemberProtocol: Sendable, Hashable {
        var name: String
        var metadata: ByteBuffer
    }

    /// A JoinGroup request, version differences already applied.
    struct JoinRequest: Sendable {
        var groupId: String
        /// Empty for a member joining for the first time.
        var memberId = ""
        var groupInstanceId: String?
        var clientId = ""
        var clientHost = ""
        var sessionTimeoutMs: Int32
        /// v0 has none; it is the session timeout there.
        var rebalanceTimeoutMs: Int32
        var protocolType: String
        var protocols: [MemberProtocol]
        /// v4+: a member without id gets one with MEMBER_ID_REQUIRED and joins again with it (KIP-394).
        var requireKnownMemberId = true
        /// v9+: a static leader that rejoins a Stable group gets the member list with
        /// skipAssignment (KIP-814).
        var supportsSkippingAssignment = false
        var reason: String?
    }

    /// A member's metadata as the leader receives it.
    struct JoinedMember: Sendable, Hashable {
        var memberId: String
        var groupInstanceId: String?
        var metadata: ByteBuffer
    }

    /// The answer to a JoinGroup.
    struct JoinResult: Sendable, Equatable {
        var error: ErrorCode
        var generationId: Int32 = -1
        var protocolType: String?
        var protocolName: String?
        var leader = ""
        var memberId: String
        var skipAssignment = false
        /// Every member with its metadata, for the leader only.
        var members: [JoinedMember] = []
    }

    /// A SyncGroup request.
    struct SyncRequest: Sendable {
        var groupId: String
        var generationId: Int32
        var memberId: String
        var groupInstanceId: String?
        /// v5+: checked against the group's when present.
        var protocolType: String?
        var protocolName: String?
        /// The leader's assignment per member id (empty from followers).
        var assignments: [String: ByteBuffer] = [:]
    }

    /// The answer to a SyncGroup.
    struct SyncResult: Sendable, Equatable {
        var error: ErrorCode
        var protocolType: String?
        var protocolName: String?
        var assignment = ByteBuffer()
    }

    /// One member a LeaveGroup names: by member id, or (administratively) by group instance id
    /// with an empty member id.
    struct LeavingMember: Sendable, Hashable {
        var memberId: String
        var groupInstanceId: String?
        var reason: String?

        init(memberId: String, groupInstanceId: String? = nil, reason: String? = nil) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.reason = reason
        }
    }

    /// The answer to a LeaveGroup: a request-level error and one error per member.
    struct LeaveResult: Sendable, Equatable {
        var error: ErrorCode
        var members: [MemberError] = []

        struct MemberError: Sendable, Equatable {
            var memberId: String
            var groupInstanceId: String?
            var error: ErrorCode
        }
    }

    /// A group as ListGroups shows it.
    struct GroupListing: Sendable, Hashable {
        var groupId: String
        /// Empty for a group that only has offsets committed by consumers that assign partitions
        /// themselves.
        var protocolType: String
        var state: GroupState
    }

    /// A group as DescribeGroups shows it.
    struct GroupDescription: Sendable, Equatable {
        var error: ErrorCode = .none
        var groupId: String
        /// Kafka's state name ("Stable", …; "Dead" for an unknown group).
        var state: String
        var protocolType = ""
        /// The chosen protocol; empty unless Stable.
        var protocolName = ""
        var members: [MemberDescription] = []
    }

    /// A member as DescribeGroups shows it; metadata and assignment only when the group is Stable.
    struct MemberDescription: Sendable, Equatable {
        var memberId: String
        var groupInstanceId: String?
        var clientId: String
        var clientHost: String
        var metadata = ByteBuffer()
        var assignment = ByteBuffer()
    }

    /// A group summary for tools (`hooklog groups`).
    struct GroupOverview: Sendable, Equatable {
        var groupId: String
        var state: GroupState
        var protocolType: String?
        var protocolName: String?
        var generationId: Int32
        var leaderId: String?
        var memberIds: [String]
    }

    let configuration: Configuration
    private let state: Mutex<CoordinatorState>
    private let waiterIds = Atomic<UInt64>(0)

    init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "hooklog.groups")) {
        self.configuration = configuration
        self.state = Mutex(CoordinatorState(configuration: configuration, logger: logger))
        state.withLock { $0.coordinator = self }
    }

    deinit {
        state.withLock { $0.cancelAllTimers() }
    }

    /// JoinGroup. Returns at once for errors, MEMBER_ID_REQUIRED and rejoins that change
    /// nothing; otherwise when the rebalance's join phase completes. If the calling task is
    /// cancelled (its connection died) it returns REBALANCE_IN_PROGRESS at once, and the member
    /// still counts as joined, as in Kafka.
    func join(_ request: JoinRequest) async -> JoinResult {
        let waiter = waiterIds.wrappingAdd(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<JoinResult, Never>) in
                state.withLock { state in
                    state.joinWaiters[waiter] = continuation
                    state.join(request, waiter: waiter)
                    // Read under the lock: a cancellation handler that ran before found nothing
                    // to cancel, one that runs after will find the parked request.
                    if Task.isCancelled { state.cancelJoinWaiter(waiter) }
                }
            }
        } onCancel: {
            state.withLock { $0.cancelJoinWaiter(waiter) }
        }
    }

    /// SyncGroup. Followers in CompletingRebalance wait for the leader's assignment; everyone
    /// else is answered at once. A cancelled caller gets REBALANCE_IN_PROGRESS at once.
    func sync(_ request: SyncRequest) async -> SyncResult {
        let waiter = waiterIds.wrappingAdd(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SyncResult, Never>) in
                state.withLock { state in
                    state.syncWaiters[waiter] = continuation
                    state.sync(request, waiter: waiter)
                    if Task.isCancelled { state.cancelSyncWaiter(waiter) }
                }
            }
        } onCancel: {
            state.withLock { $0.cancelSyncWaiter(waiter) }
        }
    }

    /// Heartbeat: restarts the member's session timer. REBALANCE_IN_PROGRESS tells it to rejoin.
    func heartbeat(groupId: String, memberId: String, groupInstanceId: String? = nil, generationId: Int32)
        -> ErrorCode
    {
        state.withLock {
            $0.heartbeat(
                groupId: groupId, memberId: memberId, groupInstanceId: groupInstanceId, generationId: generationId)
        }
    }

    /// LeaveGroup for one or more members; leaving triggers a rebalance.
    func leave(groupId: String, members: [LeavingMember]) -> LeaveResult {
        state.withLock { $0.leave(groupId: groupId, members: members) }
    }

    /// ListGroups. Filters are case-insensitive; an empty filter matches everything. Every group
    /// here is of type "classic".
    func listGroups(states: [String] = [], types: [String] = []) -> (error: ErrorCode, groups: [GroupListing]) {
        state.withLock { $0.listGroups(states: states, types: types) }
    }

    /// DescribeGroups for one group. An unknown group is "Dead" without error, as Kafka answers
    /// DescribeGroups v0-5.
    func describeGroup(_ groupId: String) -> GroupDescription {
        state.withLock { $0.describeGroup(groupId) }
    }

    /// Every group with its state, generation and members, sorted by group id.
    func overview() -> [GroupOverview] {
        state.withLock { $0.overview() }
    }

    /// Whether an offset commit from this generation and member may be stored (Kafka's
    /// ClassicGroup.validateOffsetCommit):
    /// - generation < 0 to an Empty or unknown group: allowed (a consumer that assigns partitions
    ///   itself, or an admin tool). An unknown group is then created Empty, so it is listed.
    /// - generation < 0 without a member id to a group with members: UNKNOWN_MEMBER_ID.
    /// - otherwise the member must exist (UNKNOWN_MEMBER_ID; FENCED_INSTANCE_ID for a replaced
    ///   static instance) and the generation match (ILLEGAL_GENERATION; also for an unknown group).
    /// - CompletingRebalance: REBALANCE_IN_PROGRESS. PreparingRebalance still accepts commits from
    ///   the current generation, so members can commit before they rejoin.
    /// A valid commit from a member also counts as a heartbeat.
    func validateCommit(groupId: String, generation: Int32, memberId: String, groupInstanceId: String? = nil)
        -> ErrorCode
    {
        state.withLock {
            $0.validateCommit(
                groupId: groupId, generation: generation, memberId: memberId, groupInstanceId: groupInstanceId)
        }
    }

    /// Registers an Empty group if it is unknown, e.g. one that has committed offsets when the hub
    /// starts, so that it is listed.
    func loadEmptyGroup(_ groupId: String) {
        state.withLock { $0.loadEmptyGroup(groupId) }
    }

    /// DeleteGroups for one group: GROUP_ID_NOT_FOUND if unknown, NON_EMPTY_GROUP unless Empty.
    /// (Deleting its committed offsets is the caller's business.)
    func deleteGroup(_ groupId: String) -> ErrorCode {
        state.withLock { $0.deleteGroup(groupId) }
    }

    /// Answers every parked JoinGroup and SyncGroup with COORDINATOR_NOT_AVAILABLE, stops the
    /// timers and forgets the groups; every later request gets COORDINATOR_NOT_AVAILABLE.
    func close() {
        state.withLock { $0.close() }
    }

    /// Called by a timer task when its deadline passes.
    fileprivate func timerFired(_ key: CoordinatorState.TimerKey, token: UInt64) {
        state.withLock { $0.timerFired(key, token: token) }
    }
}

extension CoordinatorState {
    /// Starts (or restarts) the timer `key`; when it fires the coordinator calls
    /// `timerFired(key, token:)`, which ignores a timer that was replaced or cancelled meanwhile.
    func schedule(_ key: TimerKey, after delay: Duration) {
        cancelTimer(key)
        nextTimerToken += 1
        let token = nextTimerToken
        let coordinator = self.coordinator
        let task = Task { [weak coordinator] in
            do { try await Task.sleep(for: delay) } catch { return }
            coordinator?.timerFired(key, token: token)
        }
        timers[key] = ScheduledTimer(token: token, task: task)
    }
}
