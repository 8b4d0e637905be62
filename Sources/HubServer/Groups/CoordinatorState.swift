import Foundation
import HubProtocol
import Logging
import NIOCore

/// The group coordinator's mutable state — groups, parked JoinGroup / SyncGroup requests and
/// timers — and the classic rebalance state machine that changes it, after Kafka's
/// GroupMetadataManager (classic groups).
///
/// Lives inside `GroupCoordinator`'s mutex: every method runs with the lock held. Parked requests
/// are resumed under the lock too; resuming a continuation only schedules its task.
final class CoordinatorState {
    typealias JoinResult = GroupCoordinator.JoinResult
    typealias SyncResult = GroupCoordinator.SyncResult
    typealias MemberProtocol = GroupCoordinator.MemberProtocol

    /// What a timer is for; at most one timer per key.
    enum TimerKey: Hashable, Sendable {
        /// The join phase: initial delay or rebalance timeout.
        case join(group: String)
        /// Members of a new generation must send SyncGroup within the rebalance timeout.
        case pendingSync(group: String)
        /// The member's session (or, for a new member, its first join) timeout.
        case session(group: String, member: String)
        /// A member id handed out with MEMBER_ID_REQUIRED expires after the session timeout.
        case pendingMember(group: String, member: String)
    }

    struct ScheduledTimer {
        var token: UInt64
        var task: Task<Void, Never>
    }

    let configuration: GroupCoordinator.Configuration
    let logger: Logger
    weak var coordinator: GroupCoordinator?
    var groups: [String: ClassicGroup] = [:]
    var closed = false
    var joinWaiters: [UInt64: CheckedContinuation<JoinResult, Never>] = [:]
    var syncWaiters: [UInt64: CheckedContinuation<SyncResult, Never>] = [:]
    var timers: [TimerKey: ScheduledTimer] = [:]
    var nextTimerToken: UInt64 = 0

    init(configuration: GroupCoordinator.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: - JoinGroup

    func join(_ request: GroupCoordinator.JoinRequest, waiter: UInt64) {
        func fail(_ error: ErrorCode) { answerJoin(waiter, JoinResult(error: error, memberId: request.memberId)) }
        if closed { return fail(.coordinatorNotAvailable) }
        if request.groupId.isEmpty { return fail(.invalidGroupId) }
        let session = Duration.milliseconds(Int64(request.sessionTimeoutMs))
        if session < configuration.minSessionTimeout || session > configuration.maxSessionTimeout {
            return fail(.invalidSessionTimeout)
        }
        let group: ClassicGroup
        var created = false
        if let existing = groups[request.groupId] {
            group = existing
        } else if request.memberId.isEmpty {
            group = ClassicGroup(groupId: request.groupId)
            groups[request.groupId] = group
            created = true
        } else {
            return fail(.unknownMemberId)
        }
        // A protocol listed twice counts once, with its first metadata.
        var seen = Set<String>()
        let protocols = request.protocols.filter { seen.insert($0.name).inserted }
        if request.memberId.isEmpty {
            joinNewMember(group, request, protocols, waiter: waiter)
        } else {
            joinExistingMember(group, request, protocols, waiter: waiter)
        }
        // A first join that failed leaves no group behind.
        if created && group.members.isEmpty && group.pendingMembers.isEmpty {
            groups[request.groupId] = nil
        }
    }

    private func joinNewMember(
        _ group: ClassicGroup, _ request: GroupCoordinator.JoinRequest, _ protocols: [MemberProtocol], waiter: UInt64
    ) {
        guard group.supportsProtocols(type: request.protocolType, names: protocols.map(\.name)) else {
            return answerJoin(waiter, JoinResult(error: .inconsistentGroupProtocol, memberId: ""))
        }
        let newMemberId = "\(request.groupInstanceId ?? request.clientId)-\(UUID().uuidString.lowercased())"
        if let instance = request.groupInstanceId {
            if let existingId = group.staticMemberId(instance), let existing = group.member(existingId) {
                replaceStaticMember(group, existing, newMemberId: newMemberId, request, protocols, waiter: waiter)
            } else {
                addMember(group, newMemberId, request, protocols, waiter: waiter)
            }
        } else if request.requireKnownMemberId {
            // KIP-394: the member must come back with this id; until then the rebalance waits
            // for it (for at most its session timeout).
            group.pendingMembers.insert(newMemberId)
            schedule(
                .pendingMember(group: group.groupId, member: newMemberId),
                after: .milliseconds(Int64(request.sessionTimeoutMs)))
            answerJoin(waiter, JoinResult(error: .memberIdRequired, memberId: newMemberId))
        } else {
            addMember(group, newMemberId, request, protocols, waiter: waiter)
        }
    }

    private func joinExistingMember(
        _ group: ClassicGroup, _ request: GroupCoordinator.JoinRequest, _ protocols: [MemberProtocol], waiter: UInt64
    ) {
        let memberId = request.memberId
        func fail(_ error: ErrorCode) { answerJoin(waiter, JoinResult(error: error, memberId: memberId)) }
        guard group.supportsProtocols(type: request.protocolType, names: protocols.map(\.name)) else {
            return fail(.inconsistentGroupProtocol)
        }
        if group.pendingMembers.contains(memberId) {
            // Static members never get a pending id.
            guard request.groupInstanceId == nil else { return fail(.unknownMemberId) }
            return addMember(group, memberId, request, protocols, waiter: waiter)
        }
        if let error = group.validateMember(memberId, groupInstanceId: request.groupInstanceId) {
            return fail(error)
        }
        let member = group.member(memberId)!
        switch group.state {
        case .preparingRebalance:
            updateMember(member, request, protocols, waiter: waiter)
            maybeCompleteJoinPhase(group)
        case .completingRebalance:
            if member.matches(protocols) {
                // Probably lost its JoinGroup answer: repeat it.
                answerJoin(waiter, currentGeneration(group, memberId: memberId, withMembers: group.isLeader(memberId)))
            } else {
                updateMember(member, request, protocols, waiter: waiter)
                prepareRebalance(group, reason: "member \(memberId) changed its metadata")
            }
        case .stable:
            if group.isLeader(memberId) || !member.matches(protocols) {
                // The leader rejoins to trigger a rebalance (e.g. new partitions to assign).
                updateMember(member, request, protocols, waiter: waiter)
                prepareRebalance(group, reason: "member \(memberId) rejoined")
            } else {
                answerJoin(waiter, currentGeneration(group, memberId: memberId, withMembers: false))
            }
        case .empty, .dead:
            fail(.unknownMemberId)
        }
    }

    private func addMember(
        _ group: ClassicGroup, _ memberId: String, _ request: GroupCoordinator.JoinRequest,
        _ protocols: [MemberProtocol], waiter: UInt64
    ) {
        let member = GroupMember(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: request.clientId,
            clientHost: request.clientHost, protocolType: request.protocolType, protocols: protocols,
            rebalanceTimeout: .milliseconds(Int64(max(0, request.rebalanceTimeoutMs))),
            sessionTimeout: .milliseconds(Int64(request.sessionTimeoutMs)))
        member.isNew = true
        if group.state == .preparingRebalance && group.previousState == .empty { group.newMemberAdded = true }
        group.add(member)
        cancelTimer(.pendingMember(group: group.groupId, member: memberId))
        parkJoin(member, waiter: waiter)
        // It cannot heartbeat before its first generation; this bounds how long it may wait.
        schedule(.session(group: group.groupId, member: memberId), after: configuration.newMemberJoinTimeout)
        logger.debug("member joins group", metadata: ["group": "\(group.groupId)", "member": "\(memberId)"])
        maybePrepareRebalanceOrCompleteJoin(group, reason: "member \(memberId) joined")
    }

    private func updateMember(
        _ member: GroupMember, _ request: GroupCoordinator.JoinRequest, _ protocols: [MemberProtocol], waiter: UInt64
    ) {
        member.protocols = protocols
        member.rebalanceTimeout = .milliseconds(Int64(max(0, request.rebalanceTimeoutMs)))
        member.sessionTimeout = .milliseconds(Int64(request.sessionTimeoutMs))
        parkJoin(member, waiter: waiter)
    }

    /// A static member's instance rejoins without its member id (it restarted): it takes over
    /// the old member's place under a new id, and requests parked under the old id are fenced.
    /// In a Stable group whose protocol does not change this needs no rebalance.
    private func replaceStaticMember(
        _ group: ClassicGroup, _ member: GroupMember, newMemberId: String, _ request: GroupCoordinator.JoinRequest,
        _ protocols: [MemberProtocol], waiter: UInt64
    ) {
        let oldMemberId = member.memberId
        let previousLeader = group.leaderId
        completeJoin(of: member, with: JoinResult(error: .fencedInstanceId, memberId: oldMemberId))
        completeSync(of: member, with: SyncResult(error: .fencedInstanceId))
        cancelTimer(.session(group: group.groupId, member: oldMemberId))
        group.replaceStaticMember(member, newMemberId: newMemberId)
        scheduleSession(group, member)
        updateMember(member, request, protocols, waiter: waiter)
        logger.info(
            "static member rejoins with a new member id",
            metadata: [
                "group": "\(group.groupId)", "instance": "\(request.groupInstanceId ?? "")",
                "old": "\(oldMemberId)", "new": "\(newMemberId)",
            ])
        switch group.state {
        case .stable:
            guard group.selectProtocol() == group.protocolName else {
                return prepareRebalance(group, reason: "static member \(newMemberId) changes the group's protocol")
            }
            var result = currentGeneration(group, memberId: newMemberId, withMembers: false)
            if request.supportsSkippingAssignment {
                // KIP-814: a leader learns it leads but must not compute a new assignment.
                if group.isLeader(newMemberId) {
                    result.members = group.joinedMembers()
                    result.skipAssignment = true
                }
            } else {
                // Older clients: name the old leader id, so that a rejoining leader does not think
                // it leads and compute an assignment nobody would receive.
                result.leader = previousLeader ?? ""
            }
            completeJoin(of: member, with: result)
        case .completingRebalance:
            // The leader may be assigning to the old member id: start over.
            prepareRebalance(group, reason: "static member \(newMemberId) rejoined during CompletingRebalance")
        case .preparingRebalance:
            maybeCompleteJoinPhase(group)
        case .empty, .dead:
            maybePrepareRebalanceOrCompleteJoin(group, reason: "static member \(newMemberId) rejoined")
        }
    }

    /// The current generation as a JoinGroup answer.
    private func currentGeneration(_ group: ClassicGroup, memberId: String, withMembers: Bool) -> JoinResult {
        JoinResult(
            error: .none, generationId: group.generationId, protocolType: group.protocolType,
            protocolName: group.protocolName, leader: group.leaderId ?? "", memberId: memberId,
            members: withMembers ? group.joinedMembers() : [])
    }

    // MARK: - Rebalance

    private func maybePrepareRebalanceOrCompleteJoin(_ group: ClassicGroup, reason: String) {
        if group.canRebalance {
            prepareRebalance(group, reason: reason)
        } else {
            maybeCompleteJoinPhase(group)
        }
    }

    /// Completes the join phase once everyone has rejoined, except during an initial rebalance,
    /// which always waits out its delay.
    private func maybeCompleteJoinPhase(_ group: ClassicGroup) {
        if group.state == .preparingRebalance && group.hasAllMembersJoined && group.previousState != .empty {
            completeJoinPhase(group)
        }
    }

    /// Starts a rebalance: members must rejoin within the rebalance timeout. An Empty group first
    /// waits group.initial.rebalance.delay.ms for more members.
    private func prepareRebalance(_ group: ClassicGroup, reason: String) {
        if group.state == .completingRebalance {
            // Members waiting for the leader's assignment rejoin instead.
            resetAndPropagateAssignment(group, error: .rebalanceInProgress)
        }
        group.pendingSyncMembers.removeAll()
        cancelTimer(.pendingSync(group: group.groupId))
        let isInitial = group.state == .empty
        group.transition(to: .preparingRebalance)
        logger.info(
            "preparing to rebalance group",
            metadata: ["group": "\(group.groupId)", "generation": "\(group.generationId)", "reason": "\(reason)"])
        if isInitial {
            let delay = configuration.initialRebalanceDelay
            let remaining = max(group.rebalanceTimeout - delay, .zero)
            scheduleJoinTimer(group, .initialDelay(delay: delay, remaining: remaining), after: delay)
        } else if group.hasAllMembersJoined {
            completeJoinPhase(group)
        } else {
            scheduleJoinTimer(group, .rebalanceTimeout, after: group.rebalanceTimeout)
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, the generation
    /// advances, a protocol is chosen and every joined member gets its answer (the leader with
    /// the member list).
    private func completeJoinPhase(_ group: ClassicGroup) {
        cancelTimer(.join(group: group.groupId))
        group.joinTimer = nil
        let missing = group.members.filter { !$0.isAwaitingJoin && !$0.isStatic }
        for member in missing {
            group.remove(member.memberId)
            cancelTimer(.session(group: group.groupId, member: member.memberId))
        }
        if !missing.isEmpty {
            logger.info(
                "removed members that did not rejoin",
                metadata: ["group": "\(group.groupId)", "members": "\(missing.map(\.memberId))"])
        }
        if !group.maybeElectNewJoinedLeader() && !group.members.isEmpty {
            // Only static members that have not rejoined are left: give them another rebalance
            // timeout (their sessions may expire meanwhile); never a busy loop.
            scheduleJoinTimer(group, .rebalanceTimeout, after: max(group.rebalanceTimeout, .seconds(1)))
            return
        }
        group.generationId &+= 1
        if group.members.isEmpty {
            group.protocolName = nil
            group.transition(to: .empty)
            logger.info(
                "group is empty", metadata: ["group": "\(group.groupId)", "generation": "\(group.generationId)"])
            return
        }
        group.protocolName = group.selectProtocol()
        group.transition(to: .completingRebalance)
        logger.info(
            "group rebalanced",
            metadata: [
                "group": "\(group.groupId)", "generation": "\(group.generationId)",
                "protocol": "\(group.protocolName ?? "")", "members": "\(group.members.count)",
                "leader": "\(group.leaderId ?? "")",
            ])
        let leaderMembers = group.joinedMembers()
        for member in group.members {
            var result = currentGeneration(group, memberId: member.memberId, withMembers: false)
            if group.isLeader(member.memberId) { result.members = leaderMembers }
            completeJoin(of: member, with: result)
            scheduleSession(group, member)
            member.isNew = false
            group.pendingSyncMembers.insert(member.memberId)
        }
        group.syncTimerGeneration = group.generationId
        schedule(.pendingSync(group: group.groupId), after: group.rebalanceTimeout)
    }

    private func resetAndPropagateAssignment(_ group: ClassicGroup, error: ErrorCode) {
        for member in group.members { member.assignment = ByteBuffer() }
        propagateAssignment(group, error: error)
    }

    /// Answers every member waiting in SyncGroup with its assignment (or the error).
    private func propagateAssignment(_ group: ClassicGroup, error: ErrorCode) {
        for member in group.members {
            let result =
                error == .none
                ? SyncResult(
                    error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                    assignment: member.assignment)
                : SyncResult(error: error)
            if completeSync(of: member, with: result) {
                scheduleSession(group, member)
            }
        }
    }

    // MARK: - SyncGroup

    func sync(_ request: GroupCoordinator.SyncRequest, waiter: UInt64) {
        func fail(_ error: ErrorCode) { answerSync(waiter, SyncResult(error: error)) }
        if closed { return fail(.coordinatorNotAvailable) }
        if request.groupId.isEmpty { return fail(.invalidGroupId) }
        guard let group = groups[request.groupId] else { return fail(.unknownMemberId) }
        if let error = group.validateMember(request.memberId, groupInstanceId: request.groupInstanceId) {
            return fail(error)
        }
        if request.generationId != group.generationId { return fail(.illegalGeneration) }
        if Self.inconsistent(request.protocolType, group.protocolType)
            || Self.inconsistent(request.protocolName, group.protocolName)
        {
            return fail(.inconsistentGroupProtocol)
        }
        let member = group.member(request.memberId)!
        switch group.state {
        case .empty:
            fail(.unknownMemberId)
        case .preparingRebalance:
            fail(.rebalanceInProgress)
        case .completingRebalance:
            parkSync(member, waiter: waiter)
            removePendingSyncMember(group, request.memberId)
            if group.isLeader(request.memberId) {
                // Members the leader left out get an empty assignment; unknown ids are ignored.
                for member in group.members {
                    member.assignment = request.assignments[member.memberId] ?? ByteBuffer()
                }
                propagateAssignment(group, error: .none)
                group.transition(to: .stable)
                logger.debug(
                    "group stable", metadata: ["group": "\(group.groupId)", "generation": "\(group.generationId)"])
            }
        case .stable:
            removePendingSyncMember(group, request.memberId)
            answerSync(
                waiter,
                SyncResult(
                    error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                    assignment: member.assignment))
            scheduleSession(group, member)
        case .dead:
            fail(.coordinatorNotAvailable)
        }
    }

    private static func inconsistent(_ requested: String?, _ actual: String?) -> Bool {
        guard let requested, let actual else { return false }
        return requested != actual
    }

    private func removePendingSyncMember(_ group: ClassicGroup, _ memberId: String) {
        group.pendingSyncMembers.remove(memberId)
        if group.pendingSyncMembers.isEmpty { cancelTimer(.pendingSync(group: group.groupId)) }
    }

    // MARK: - Heartbeat and LeaveGroup

    func heartbeat(groupId: String, memberId: String, groupInstanceId: String?, generationId: Int32) -> ErrorCode {
        if closed { return .coordinatorNotAvailable }
        if groupId.isEmpty { return .invalidGroupId }
        guard let group = groups[groupId] else { return .unknownMemberId }
        if let error = group.validateMember(memberId, groupInstanceId: groupInstanceId) { return error }
        if generationId != group.generationId { return .illegalGeneration }
        let member = group.member(memberId)!
        switch group.state {
        case .empty:
            return .unknownMemberId
        case .preparingRebalance:
            scheduleSession(group, member)
            return .rebalanceInProgress
        case .completingRebalance, .stable:
            scheduleSession(group, member)
            return .none
        case .dead:
            return .coordinatorNotAvailable
        }
    }

    func leave(groupId: String, members: [GroupCoordinator.LeavingMember]) -> GroupCoordinator.LeaveResult {
        typealias MemberError = GroupCoordinator.LeaveResult.MemberError
        if closed { return .init(error: .coordinatorNotAvailable) }
        if groupId.isEmpty { return .init(error: .invalidGroupId) }
        guard let group = groups[groupId] else {
            return .init(
                error: .none,
                members: members.map {
                    MemberError(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, error: .unknownMemberId)
                })
        }
        var results: [MemberError] = []
        var left: [String] = []
        for leaving in members {
            var error = ErrorCode.none
            if leaving.memberId.isEmpty {
                // Administrative removal of a static member by its instance id.
                if let instance = leaving.groupInstanceId, let id = group.staticMemberId(instance),
                    let member = group.member(id)
                {
                    removeMember(group, member)
                    left.append(id)
                } else {
                    error = .unknownMemberId
                }
            } else if group.pendingMembers.contains(leaving.memberId) {
                group.pendingMembers.remove(leaving.memberId)
                cancelTimer(.pendingMember(group: groupId, member: leaving.memberId))
                left.append(leaving.memberId)
            } else if let invalid = group.validateMember(leaving.memberId, groupInstanceId: leaving.groupInstanceId) {
                error = invalid
            } else {
                removeMember(group, group.member(leaving.memberId)!)
                left.append(leaving.memberId)
            }
            results.append(
                MemberError(memberId: leaving.memberId, groupInstanceId: leaving.groupInstanceId, error: error))
        }
        if !left.isEmpty {
            logger.info("members left group", metadata: ["group": "\(groupId)", "members": "\(left)"])
            switch group.state {
            case .stable, .completingRebalance:
                maybePrepareRebalanceOrCompleteJoin(group, reason: "members \(left) left")
            case .preparingRebalance:
                maybeCompleteJoinPhase(group)
            case .empty, .dead:
                break
            }
        }
        return .init(error: .none, members: results)
    }

    /// Takes a member out of the group; a request of its that is still parked gets
    /// UNKNOWN_MEMBER_ID, so that a live client joins again.
    private func removeMember(_ group: ClassicGroup, _ member: GroupMember) {
        cancelTimer(.session(group: group.groupId, member: member.memberId))
        completeJoin(of: member, with: JoinResult(error: .unknownMemberId, memberId: ""))
        completeSync(of: member, with: SyncResult(error: .unknownMemberId))
        group.remove(member.memberId)
    }

    // MARK: - Timers

    func timerFired(_ key: TimerKey, token: UInt64) {
        guard let timer = timers[key], timer.token == token else { return }
        timers[key] = nil
        guard !closed else { return }
        switch key {
        case .join(let groupId):
            guard let group = groups[groupId], group.state == .preparingRebalance, let kind = group.joinTimer else {
                return
            }
            switch kind {
            case .initialDelay(let delay, let remaining):
                if group.newMemberAdded && remaining > .zero {
                    // Members are still arriving: wait a little longer.
                    group.newMemberAdded = false
                    let next = min(configuration.initialRebalanceDelay, remaining)
                    let left = max(remaining - delay, .zero)
                    scheduleJoinTimer(group, .initialDelay(delay: next, remaining: left), after: next)
                } else {
                    completeJoinPhase(group)
                }
            case .rebalanceTimeout:
                completeJoinPhase(group)
            }
        case .pendingSync(let groupId):
            guard let group = groups[groupId], group.syncTimerGeneration == group.generationId,
                group.state == .completingRebalance || group.state == .stable, !group.pendingSyncMembers.isEmpty
            else { return }
            let late = group.members.filter { group.pendingSyncMembers.contains($0.memberId) }
            for member in late { removeMember(group, member) }
            group.pendingSyncMembers.removeAll()
            prepareRebalance(group, reason: "members \(late.map(\.memberId)) did not send SyncGroup in time")
        case .session(let groupId, let memberId):
            guard let group = groups[groupId], let member = group.member(memberId), !member.hasSatisfiedHeartbeat else {
                return
            }
            logger.info(
                "member's session expired", metadata: ["group": "\(groupId)", "member": "\(memberId)"])
            removeMember(group, member)
            switch group.state {
            case .stable, .completingRebalance:
                maybePrepareRebalanceOrCompleteJoin(group, reason: "member \(memberId)'s session expired")
            case .preparingRebalance:
                maybeCompleteJoinPhase(group)
            case .empty, .dead:
                break
            }
        case .pendingMember(let groupId, let memberId):
            guard let group = groups[groupId], group.pendingMembers.remove(memberId) != nil else { return }
            maybeCompleteJoinPhase(group)
        }
    }

    private func scheduleJoinTimer(_ group: ClassicGroup, _ kind: ClassicGroup.JoinTimer, after delay: Duration) {
        group.joinTimer = kind
        schedule(.join(group: group.groupId), after: delay)
    }

    private func scheduleSession(_ group: ClassicGroup, _ member: GroupMember) {
        schedule(.session(group: group.groupId, member: member.memberId), after: member.sessionTimeout)
    }

    func cancelTimer(_ key: TimerKey) {
        timers.removeValue(forKey: key)?.task.cancel()
    }

    func cancelAllTimers() {
        for timer in timers.values { timer.task.cancel() }
        timers.removeAll()
    }

    private func cancelTimers(of group: ClassicGroup) {
        cancelTimer(.join(group: group.groupId))
        cancelTimer(.pendingSync(group: group.groupId))
        for member in group.members { cancelTimer(.session(group: group.groupId, member: member.memberId)) }
        for pending in group.pendingMembers { cancelTimer(.pendingMember(group: group.groupId, member: pending)) }
    }

    // MARK: - Parked requests

    private func answerJoin(_ waiter: UInt64, _ result: JoinResult) {
        joinWaiters.removeValue(forKey: waiter)?.resume(returning: result)
    }

    private func answerSync(_ waiter: UInt64, _ result: SyncResult) {
        syncWaiters.removeValue(forKey: waiter)?.resume(returning: result)
    }

    /// The member waits in JoinGroup. A request it still had parked (a retry from a client that
    /// gave up on the first) is told to rejoin.
    private func parkJoin(_ member: GroupMember, waiter: UInt64) {
        if let previous = member.joinWaiter, previous != waiter {
            answerJoin(previous, JoinResult(error: .rebalanceInProgress, memberId: member.memberId))
        }
        member.isAwaitingJoin = true
        member.joinWaiter = waiter
    }

    private func parkSync(_ member: GroupMember, waiter: UInt64) {
        if let previous = member.syncWaiter, previous != waiter {
            answerSync(previous, SyncResult(error: .rebalanceInProgress))
        }
        member.isAwaitingSync = true
        member.syncWaiter = waiter
    }

    /// Answers the member's JoinGroup if it is awaiting one; false if it is not.
    @discardableResult
    private func completeJoin(of member: GroupMember, with result: JoinResult) -> Bool {
        guard member.isAwaitingJoin else { return false }
        member.isAwaitingJoin = false
        if let waiter = member.joinWaiter { answerJoin(waiter, result) }
        member.joinWaiter = nil
        return true
    }

    @discardableResult
    private func completeSync(of member: GroupMember, with result: SyncResult) -> Bool {
        guard member.isAwaitingSync else { return false }
        member.isAwaitingSync = false
        if let waiter = member.syncWaiter { answerSync(waiter, result) }
        member.syncWaiter = nil
        return true
    }

    /// The task behind a parked JoinGroup was cancelled: it returns at once; the member keeps
    /// counting as joined.
    func cancelJoinWaiter(_ waiter: UInt64) {
        answerJoin(waiter, JoinResult(error: .rebalanceInProgress, memberId: ""))
    }

    func cancelSyncWaiter(_ waiter: UInt64) {
        answerSync(waiter, SyncResult(error: .rebalanceInProgress))
    }

    // MARK: - Listing, offsets, lifecycle

    func listGroups(states: [String], types: [String]) -> (error: ErrorCode, groups: [GroupCoordinator.GroupListing]) {
        if closed { return (.coordinatorNotAvailable, []) }
        let stateFilter = Set(states.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        let typeFilter = Set(types.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        if !typeFilter.isEmpty && !typeFilter.contains("classic") { return (.none, []) }
        let listed = groups.values
            .filter { stateFilter.isEmpty || stateFilter.contains($0.state.rawValue.lowercased()) }
            .sorted { $0.groupId < $1.groupId }
            .map {
                GroupCoordinator.GroupListing(groupId: $0.groupId, protocolType: $0.protocolType ?? "", state: $0.state)
            }
        return (.none, listed)
    }

    func describeGroup(_ groupId: String) -> GroupCoordinator.GroupDescription {
        if closed { return .init(error: .coordinatorNotAvailable, groupId: groupId, state: "") }
        guard let group = groups[groupId] else { return .init(groupId: groupId, state: GroupState.dead.rawValue) }
        var description = GroupCoordinator.GroupDescription(
            groupId: groupId, state: group.state.rawValue, protocolType: group.protocolType ?? "")
        // Metadata and assignments are only meaningful once the generation's assignment is in.
        let stableProtocol = group.state == .stable ? group.protocolName : nil
        if let stableProtocol { description.protocolName = stableProtocol }
        description.members = group.members.map { member in
            var described = GroupCoordinator.MemberDescription(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                clientHost: member.clientHost)
            if let stableProtocol {
                described.metadata = member.metadata(for: stableProtocol)
                described.assignment = member.assignment
            }
            return described
        }
        return description
    }

    func overview() -> [GroupCoordinator.GroupOverview] {
        groups.values.sorted { $0.groupId < $1.groupId }.map {
            GroupCoordinator.GroupOverview(
                groupId: $0.groupId, state: $0.state, protocolType: $0.protocolType, protocolName: $0.protocolName,
                generationId: $0.generationId, leaderId: $0.leaderId, memberIds: $0.members.map(\.memberId))
        }
    }

    func validateCommit(groupId: String, generation: Int32, memberId: String, groupInstanceId: String?) -> ErrorCode {
        if closed { return .coordinatorNotAvailable }
        guard let group = groups[groupId] else {
            guard generation < 0 else { return .illegalGeneration }
            groups[groupId] = ClassicGroup(groupId: groupId)
            return .none
        }
        if generation < 0 && group.state == .empty { return .none }
        if generation >= 0 || !memberId.isEmpty || groupInstanceId != nil {
            if let error = group.validateMember(memberId, groupInstanceId: groupInstanceId) { return error }
            if generation != group.generationId { return .illegalGeneration }
        } else if group.state != .empty {
            return .unknownMemberId
        }
        if group.state == .completingRebalance { return .rebalanceInProgress }
        if let member = group.member(memberId) { scheduleSession(group, member) }
        return .none
    }

    func loadEmptyGroup(_ groupId: String) {
        if !closed && groups[groupId] == nil { groups[groupId] = ClassicGroup(groupId: groupId) }
    }

    func deleteGroup(_ groupId: String) -> ErrorCode {
        if closed { return .coordinatorNotAvailable }
        guard let group = groups[groupId] else { return .groupIdNotFound }
        guard group.state == .empty else { return .nonEmptyGroup }
        cancelTimers(of: group)
        groups[groupId] = nil
        return .none
    }

    func close() {
        guard !closed else { return }
        closed = true
        for group in groups.values {
            for member in group.members {
                completeJoin(of: member, with: JoinResult(error: .coordinatorNotAvailable, memberId: member.memberId))
                completeSync(of: member, with: SyncResult(error: .coordinatorNotAvailable))
            }
        }
        for waiter in joinWaiters.values {
            waiter.resume(returning: JoinResult(error: .coordinatorNotAvailable, memberId: ""))
        }
        for waiter in syncWaiters.values { waiter.resume(returning: SyncResult(error: .coordinatorNotAvailable)) }
        joinWaiters.removeAll()
        syncWaiters.removeAll()
        groups.removeAll()
        cancelAllTimers()
    }
}
