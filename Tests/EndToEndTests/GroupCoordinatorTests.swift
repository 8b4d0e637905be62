import HubProtocol
import NIOCore
import Testing

@testable import HubServer

/// The classic group coordinator: rebalances, heartbeats, leaving, session expiry, KIP-394
/// member ids, static members, listing, offset-commit checks and shutdown — through the
/// coordinator and through the Kafka messages at their versions. Timeouts are short, so the
/// suite runs in seconds; groups are formed without depending on timing (a loaded machine must
/// not make a test fail), and only the initial-delay tests rely on a generous window.
@Suite(.timeLimit(.minutes(1))) struct GroupCoordinatorTests {
    typealias Join = GroupCoordinator.JoinRequest
    typealias JoinResult = GroupCoordinator.JoinResult

    static func coordinator(initialDelay: Duration = .zero) -> GroupCoordinator {
        var configuration = GroupCoordinator.Configuration()
        configuration.minSessionTimeout = .milliseconds(10)
        configuration.initialRebalanceDelay = initialDelay
        return GroupCoordinator(configuration: configuration)
    }

    /// A JoinGroup; each client's metadata names it ("sub-<client>").
    static func join(
        _ group: String = "g", member: String = "", instance: String? = nil, client: String = "app",
        session: Int32 = 10_000, rebalance: Int32 = 5_000, type: String = "consumer",
        protocols: [String] = ["range"], requireKnownMemberId: Bool = false
    ) -> Join {
        Join(
            groupId: group, memberId: member, groupInstanceId: instance, clientId: client, clientHost: "/10.0.0.1",
            sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, protocolType: type,
            protocols: protocols.map { .init(name: $0, metadata: ByteBuffer(string: "sub-\(client)")) },
            requireKnownMemberId: requireKnownMemberId)
    }

    static func sync(
        _ group: String = "g", generation: Int32, member: String, assignments: [String: String] = [:]
    ) -> GroupCoordinator.SyncRequest {
        .init(
            groupId: group, generationId: generation, memberId: member,
            assignments: assignments.mapValues { ByteBuffer(string: $0) })
    }

    /// Polls until `condition` holds (fails the test after 5 s).
    static func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "timed out waiting for: \(what)")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    static func state(_ coordinator: GroupCoordinator, _ group: String = "g") -> String {
        coordinator.describeGroup(group).state
    }

    /// Starts one parked JoinGroup per request, in order (each visible in the group before the
    /// next starts, so the first one leads), and returns the answers. With an initial delay, all
    /// of them end up in generation 1 if they arrive within it.
    static func joinAll(_ coordinator: GroupCoordinator, _ requests: [Join]) async throws -> [JoinResult] {
        var tasks: [Task<JoinResult, Never>] = []
        for request in requests {
            tasks.append(Task { await coordinator.join(request) })
            try await eventually("\(request.clientId) in the group") {
                coordinator.describeGroup(request.groupId).members.contains { $0.clientId == request.clientId }
            }
        }
        var results: [JoinResult] = []
        for task in tasks { results.append(await task.value) }
        return results
    }

    /// Forms a group whatever the machine's load: the first member joins alone (generation 1),
    /// the others join, which starts a rebalance that waits for every member, and the first one
    /// rejoins. Returns the JoinGroup answers in request order: generation 2 (1 for a single
    /// member), the first member leads, the group is in CompletingRebalance.
    static func form(_ coordinator: GroupCoordinator, _ requests: [Join]) async throws -> [JoinResult] {
        let first = await coordinator.join(requests[0])
        try #require(first.error == .none)
        if requests.count == 1 { return [first] }
        var tasks: [Task<JoinResult, Never>] = []
        for request in requests.dropFirst() {
            tasks.append(Task { await coordinator.join(request) })
            try await eventually("\(request.clientId) in the group") {
                coordinator.describeGroup(request.groupId).members.contains { $0.clientId == request.clientId }
            }
        }
        var rejoin = requests[0]
        rejoin.memberId = first.memberId
        var results = [await coordinator.join(rejoin)]
        for task in tasks { results.append(await task.value) }
        try #require(results.allSatisfy { $0.error == .none && $0.generationId == 2 })
        return results
    }

    /// A Stable group of `clients` (formed as `form` does); the first client leads. Assignments
    /// are "assignment-<client>". Returns the member ids by client and the generation.
    static func stableGroup(
        _ coordinator: GroupCoordinator, _ clients: [String], group: String = "g", session: Int32 = 10_000
    ) async throws -> (ids: [String: String], generation: Int32) {
        let joined = try await form(coordinator, clients.map { join(group, client: $0, session: session) })
        let generation = joined[0].generationId
        let ids = Dictionary(uniqueKeysWithValues: zip(clients, joined.map(\.memberId)))
        let leader = joined[0].memberId
        let followers = clients.dropFirst().map { client in
            Task { await coordinator.sync(sync(group, generation: generation, member: ids[client]!)) }
        }
        let assignments = Dictionary(uniqueKeysWithValues: clients.map { (ids[$0]!, "assignment-\($0)") })
        let leaderSync = await coordinator.sync(
            sync(group, generation: generation, member: leader, assignments: assignments))
        #expect(leaderSync.error == .none)
        for follower in followers { #expect(await follower.value.error == .none) }
        #expect(state(coordinator, group) == "Stable")
        return (ids, generation)
    }

    @Test func twoMembersJoinWithOneLeaderAtGenerationOne() async throws {
        // Both arrive within the initial rebalance delay, so generation 1 has them both.
        let coordinator = Self.coordinator(initialDelay: .seconds(1))
        let results = try await Self.joinAll(coordinator, [Self.join(client: "a"), Self.join(client: "b")])
        let (a, b) = (results[0], results[1])
        #expect(a.error == .none && b.error == .none)
        #expect(a.generationId == 1 && b.generationId == 1)
        #expect(a.leader == a.memberId && b.leader == a.memberId)
        #expect(a.protocolName == "range" && a.protocolType == "consumer")
        #expect(a.memberId.hasPrefix("a-") && b.memberId.hasPrefix("b-") && a.memberId != b.memberId)
        // Only the leader receives the members, with their metadata for the chosen protocol.
        #expect(
            a.members == [
                .init(memberId: a.memberId, metadata: ByteBuffer(string: "sub-a")),
                .init(memberId: b.memberId, metadata: ByteBuffer(string: "sub-b")),
            ])
        #expect(b.members.isEmpty)
        #expect(Self.state(coordinator) == "CompletingRebalance")
    }

    @Test func syncGivesEveryMemberItsAssignment() async throws {
        let coordinator = Self.coordinator()
        let results = try await Self.form(coordinator, [Self.join(client: "a"), Self.join(client: "b")])
        let (leader, follower) = (results[0].memberId, results[1].memberId)
        let generation = results[0].generationId
        // The follower waits for the leader's assignment.
        let followerSync = Task { await coordinator.sync(Self.sync(generation: generation, member: follower)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(Self.state(coordinator) == "CompletingRebalance")
        let leaderSync = await coordinator.sync(
            Self.sync(generation: generation, member: leader, assignments: [leader: "p0", follower: "p1"]))
        let expected = GroupCoordinator.SyncResult(
            error: .none, protocolType: "consumer", protocolName: "range", assignment: .init(string: "p0"))
        #expect(leaderSync == expected)
        #expect(await followerSync.value.assignment == ByteBuffer(string: "p1"))
        #expect(Self.state(coordinator) == "Stable")
        // A later SyncGroup in the same generation repeats the assignment.
        let again = await coordinator.sync(Self.sync(generation: generation, member: follower))
        #expect(again.assignment == ByteBuffer(string: "p1"))
        #expect(coordinator.heartbeat(groupId: "g", memberId: follower, generationId: generation) == .none)
    }

    @Test func aThirdMemberTriggersARebalance() async throws {
        let coordinator = Self.coordinator()
        let (ids, generation) = try await Self.stableGroup(coordinator, ["a", "b"])
        let (a, b) = (ids["a"]!, ids["b"]!)
        let c = Task { await coordinator.join(Self.join(client: "c")) }
        try await Self.eventually("rebalance") { Self.state(coordinator) == "PreparingRebalance" }
        // The old members learn about it from their heartbeats, and commits still pass.
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .rebalanceInProgress)
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: generation) == .rebalanceInProgress)
        #expect(coordinator.validateCommit(groupId: "g", generation: generation, memberId: a) == .none)
        #expect(await coordinator.sync(Self.sync(generation: generation, member: b)).error == .rebalanceInProgress)
        async let rejoinA = coordinator.join(Self.join(member: a, client: "a"))
        async let rejoinB = coordinator.join(Self.join(member: b, client: "b"))
        let results = [await rejoinA, await rejoinB, await c.value]
        #expect(results.allSatisfy { $0.error == .none && $0.generationId == generation + 1 && $0.leader == a })
        #expect(results[0].members.map(\.memberId) == [a, b, results[2].memberId])
        #expect(results[1].members.isEmpty && results[2].members.isEmpty)
        // The previous generation is over.
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .illegalGeneration)
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation + 1) == .none)
    }

    @Test func leavingTriggersARebalance() async throws {
        let coordinator = Self.coordinator()
        let (ids, generation) = try await Self.stableGroup(coordinator, ["a", "b"])
        let (a, b) = (ids["a"]!, ids["b"]!)
        // LeaveGroup v3+: a list of members, one error each.
        let left = coordinator.leaveGroup(
            LeaveGroupRequest(groupId: "g", members: [.init(memberId: b), .init(memberId: "nobody")]), version: 4)
        #expect(left.errorCode == 0)
        #expect(left.members.map(\.errorCode) == [ErrorCode.none.rawValue, ErrorCode.unknownMemberId.rawValue])
        #expect(Self.state(coordinator) == "PreparingRebalance")
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .rebalanceInProgress)
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: generation) == .unknownMemberId)
        // The only member left rejoins: the rebalance completes at once.
        let rejoined = await coordinator.join(Self.join(member: a, client: "a"))
        #expect(rejoined.generationId == generation + 1 && rejoined.leader == a)
        #expect(rejoined.members.map(\.memberId) == [a])
        // LeaveGroup v0-2: one member, one error code.
        let v1 = coordinator.leaveGroup(LeaveGroupRequest(groupId: "g", memberId: b), version: 1)
        #expect(v1.errorCode == ErrorCode.unknownMemberId.rawValue)
        #expect(coordinator.leaveGroup(LeaveGroupRequest(groupId: "g", memberId: a), version: 1).errorCode == 0)
        // Nobody left: the group is Empty, a generation later.
        #expect(Self.state(coordinator) == "Empty")
        #expect(coordinator.overview().first?.generationId == generation + 2)
    }

    @Test func aSilentMemberIsRemovedAfterItsSessionTimeout() async throws {
        let coordinator = Self.coordinator()
        let joined = try await Self.form(
            coordinator, [Self.join(client: "a", session: 10_000), Self.join(client: "b", session: 1_500)])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        // b's session restarts when it gets its assignment, after this instant.
        let start = ContinuousClock.now
        async let syncB = coordinator.sync(Self.sync(generation: generation, member: b))
        _ = await coordinator.sync(Self.sync(generation: generation, member: a, assignments: [a: "x", b: "y"]))
        _ = await syncB
        // b sends nothing more; a keeps heartbeating and is told to rejoin once b is gone.
        try await Self.eventually("b removed") {
            coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .rebalanceInProgress
        }
        #expect(ContinuousClock.now - start >= .milliseconds(1_500))
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: generation) == .unknownMemberId)
        let rejoined = await coordinator.join(Self.join(member: a, client: "a"))
        #expect(rejoined.generationId == generation + 1 && rejoined.members.map(\.memberId) == [a])
        // Heartbeats keep a member in; when the last one falls silent the group empties.
        let lone = try await Self.stableGroup(coordinator, ["h"], group: "h", session: 2_000).ids["h"]!
        for _ in 0..<10 {
            try await Task.sleep(for: .milliseconds(100))
            #expect(coordinator.heartbeat(groupId: "h", memberId: lone, generationId: 1) == .none)
        }
        let silent = ContinuousClock.now
        try await Self.eventually("h empty") { Self.state(coordinator, "h") == "Empty" }
        #expect(ContinuousClock.now - silent >= .milliseconds(1_900))
    }

    @Test func memberIdIsRequiredFromJoinGroupV4() async throws {
        let coordinator = Self.coordinator()
        var request = JoinGroupRequest(
            groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, memberId: "", protocolType: "consumer",
            protocols: [.init(name: "range", metadata: ByteBuffer(string: "m"))])
        let first = await coordinator.joinGroup(request, version: 4, clientId: "rdkafka", clientHost: "/127.0.0.1")
        #expect(first.errorCode == ErrorCode.memberIdRequired.rawValue)
        #expect(first.memberId.hasPrefix("rdkafka-") && first.generationId == -1)
        #expect(coordinator.describeGroup("g").members.isEmpty)
        request.memberId = first.memberId
        let second = await coordinator.joinGroup(request, version: 4, clientId: "rdkafka", clientHost: "/127.0.0.1")
        #expect(second.errorCode == 0 && second.memberId == first.memberId && second.generationId == 1)
        #expect(second.leader == first.memberId && second.members.count == 1)
        // An id the coordinator never handed out (or forgot) is refused.
        request.memberId = "rdkafka-made-up"
        let unknown = await coordinator.joinGroup(request, version: 4, clientId: "rdkafka", clientHost: "/127.0.0.1")
        #expect(unknown.errorCode == ErrorCode.unknownMemberId.rawValue)
        request.groupId = "other"
        let unknownGroup = await coordinator.joinGroup(
            request, version: 4, clientId: "rdkafka", clientHost: "/127.0.0.1")
        #expect(unknownGroup.errorCode == ErrorCode.unknownMemberId.rawValue)
        // v3 and older join directly.
        request.memberId = ""
        let v3 = await coordinator.joinGroup(request, version: 3, clientId: "old", clientHost: "/127.0.0.1")
        #expect(v3.errorCode == 0 && v3.memberId.hasPrefix("old-") && v3.generationId == 1)
        // A handed-out id expires after the session timeout if the member does not come back.
        request.groupId = "late"
        request.sessionTimeoutMs = 100
        let pending = await coordinator.joinGroup(request, version: 5, clientId: "slow", clientHost: "/127.0.0.1")
        #expect(pending.errorCode == ErrorCode.memberIdRequired.rawValue)
        // 30 session timeouts: the expiry timer runs even when the test machine is loaded.
        try await Task.sleep(for: .seconds(3))
        request.memberId = pending.memberId
        let expired = await coordinator.joinGroup(request, version: 5, clientId: "slow", clientHost: "/127.0.0.1")
        #expect(expired.errorCode == ErrorCode.unknownMemberId.rawValue)
    }

    @Test func aMemberThatGotAnIdHoldsTheRebalanceUntilItJoins() async throws {
        let coordinator = Self.coordinator()
        let a = try await Self.stableGroup(coordinator, ["a"]).ids["a"]!
        let pending = await coordinator.join(Self.join(client: "b", requireKnownMemberId: true))
        #expect(pending.error == .memberIdRequired)
        // The leader rejoins (starting a rebalance); it completes only once b has joined too.
        let rejoin = Task { await coordinator.join(Self.join(member: a, client: "a")) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(Self.state(coordinator) == "PreparingRebalance")
        let b = await coordinator.join(Self.join(member: pending.memberId, client: "b", requireKnownMemberId: true))
        #expect(b.generationId == 2 && b.leader == a)
        #expect(await rejoin.value.members.map(\.memberId) == [a, pending.memberId])
    }

    @Test func generationMembershipAndRequestErrors() async throws {
        let coordinator = Self.coordinator()
        let (ids, generation) = try await Self.stableGroup(coordinator, ["a", "b"])
        let a = ids["a"]!
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation + 5) == .illegalGeneration)
        #expect(coordinator.heartbeat(groupId: "g", memberId: "stranger", generationId: generation) == .unknownMemberId)
        #expect(coordinator.heartbeat(groupId: "nope", memberId: a, generationId: generation) == .unknownMemberId)
        #expect(coordinator.heartbeat(groupId: "", memberId: a, generationId: generation) == .invalidGroupId)
        #expect(await coordinator.sync(Self.sync(generation: 0, member: a)).error == .illegalGeneration)
        #expect(await coordinator.sync(Self.sync(generation: generation, member: "stranger")).error == .unknownMemberId)
        #expect(await coordinator.sync(Self.sync("nope", generation: generation, member: a)).error == .unknownMemberId)
        #expect(await coordinator.join(Self.join("")).error == .invalidGroupId)
        #expect(await coordinator.join(Self.join("x", session: 5)).error == .invalidSessionTimeout)
        var tooLong = Self.join("x", session: 1_800_001)
        #expect(await coordinator.join(tooLong).error == .invalidSessionTimeout)
        tooLong.sessionTimeoutMs = 1_800_000
        tooLong.rebalanceTimeoutMs = 10
        #expect(await coordinator.join(tooLong).error == .none)
        // Kafka's default minimum is 6 s.
        let strict = GroupCoordinator()
        #expect(await strict.join(Self.join(session: 5_999)).error == .invalidSessionTimeout)
        #expect(strict.describeGroup("g").state == "Dead")
    }

    @Test func inconsistentProtocolsAreRefused() async throws {
        let coordinator = Self.coordinator()
        let ids = try await Self.stableGroup(coordinator, ["a"]).ids
        #expect(await coordinator.join(Self.join(client: "c", type: "connect")).error == .inconsistentGroupProtocol)
        #expect(
            await coordinator.join(Self.join(client: "c", protocols: ["roundrobin"])).error
                == .inconsistentGroupProtocol)
        #expect(
            await coordinator.join(Self.join(member: ids["a"]!, client: "a", protocols: ["roundrobin"])).error
                == .inconsistentGroupProtocol)
        // A first member needs a protocol type and at least one protocol; no group is left behind.
        #expect(await coordinator.join(Self.join("fresh", type: "")).error == .inconsistentGroupProtocol)
        #expect(await coordinator.join(Self.join("fresh", protocols: [])).error == .inconsistentGroupProtocol)
        #expect(coordinator.describeGroup("fresh").state == "Dead")
        // SyncGroup v5 names the protocol type and name; they must be the group's.
        var sync = SyncGroupRequest(groupId: "g", generationId: 1, memberId: ids["a"]!, protocolType: "consumer")
        #expect(await coordinator.syncGroup(sync, version: 5).errorCode == ErrorCode.inconsistentGroupProtocol.rawValue)
        sync.protocolName = "roundrobin"
        #expect(await coordinator.syncGroup(sync, version: 5).errorCode == ErrorCode.inconsistentGroupProtocol.rawValue)
        sync.protocolName = "range"
        let fine = await coordinator.syncGroup(sync, version: 5)
        #expect(fine.errorCode == 0 && fine.protocolName == "range")
        #expect(fine.assignment == ByteBuffer(string: "assignment-a"))
    }

    @Test func theProtocolIsChosenByVotesAmongCommonOnes() async throws {
        let coordinator = Self.coordinator()
        let first = try await Self.form(
            coordinator,
            [
                Self.join(client: "a", protocols: ["range", "roundrobin"]),
                Self.join(client: "b", protocols: ["roundrobin", "range", "sticky"]),
                Self.join(client: "c", protocols: ["roundrobin", "range"]),
            ])
        // Two votes for roundrobin beat the leader's preference.
        #expect(first.allSatisfy { $0.protocolName == "roundrobin" })
        let second = try await Self.form(
            coordinator,
            [
                Self.join("h", client: "a", protocols: ["roundrobin", "range"]),
                Self.join("h", client: "b", protocols: ["sticky", "range"]),
            ])
        #expect(second.allSatisfy { $0.protocolName == "range" })
        let sticky = await coordinator.join(Self.join("h", client: "c", protocols: ["sticky"]))
        #expect(sticky.error == .inconsistentGroupProtocol)
    }

    @Test func membersThatDoNotRejoinAreRemovedAfterTheRebalanceTimeout() async throws {
        let coordinator = Self.coordinator()
        let joined = try await Self.form(
            coordinator, [Self.join(client: "a", rebalance: 2_000), Self.join(client: "b", rebalance: 2_000)])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        async let syncB = coordinator.sync(Self.sync(generation: generation, member: b))
        _ = await coordinator.sync(Self.sync(generation: generation, member: a, assignments: [:]))
        _ = await syncB
        // a rejoins (as the leader, that starts a rebalance); b never does.
        let start = ContinuousClock.now
        let rejoined = await coordinator.join(Self.join(member: a, client: "a", rebalance: 2_000))
        #expect(ContinuousClock.now - start >= .milliseconds(2_000))
        #expect(rejoined.generationId == generation + 1 && rejoined.members.map(\.memberId) == [a])
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: generation) == .unknownMemberId)
    }

    @Test func aStaticMemberThatDoesNotRejoinStaysButLosesTheLead() async throws {
        let coordinator = Self.coordinator()
        let joined = try await Self.form(
            coordinator,
            [Self.join(instance: "i-a", client: "a", rebalance: 2_000), Self.join(client: "b", rebalance: 2_000)])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        async let syncB = coordinator.sync(Self.sync(generation: generation, member: b))
        _ = await coordinator.sync(Self.sync(generation: generation, member: a, assignments: [:]))
        _ = await syncB
        // b's subscription changes: a rebalance, which the leader a sits out.
        var changed = Self.join(member: b, client: "b", rebalance: 2_000)
        changed.protocols = [.init(name: "range", metadata: ByteBuffer(string: "changed"))]
        let next = await coordinator.join(changed)
        #expect(next.generationId == generation + 1 && next.leader == b)
        #expect(
            next.members == [
                .init(memberId: a, groupInstanceId: "i-a", metadata: ByteBuffer(string: "sub-a")),
                .init(memberId: b, metadata: ByteBuffer(string: "changed")),
            ])
        // a is back in time for the answer; b stays the leader in the next rebalance too.
        let late = await coordinator.join(Self.join(member: a, instance: "i-a", client: "a"))
        #expect(late.generationId == generation + 1 && late.leader == b && late.members.isEmpty)
        _ = await coordinator.sync(Self.sync(generation: generation + 1, member: b, assignments: [:]))
        let rejoinB = Task { await coordinator.join(changed) }
        try await Self.eventually("rebalance") { Self.state(coordinator) == "PreparingRebalance" }
        let ra = await coordinator.join(Self.join(member: a, instance: "i-a", client: "a"))
        let rb = await rejoinB.value
        #expect(ra.generationId == generation + 2 && ra.leader == b && rb.leader == b && rb.members.count == 2)
    }

    @Test func aMemberThatNeverSyncsIsRemoved() async throws {
        let coordinator = Self.coordinator()
        let joined = try await Self.form(
            coordinator, [Self.join(client: "a", rebalance: 2_000), Self.join(client: "b", rebalance: 2_000)])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        let synced = await coordinator.sync(
            Self.sync(generation: generation, member: a, assignments: [a: "x", b: "y"]))
        #expect(synced.error == .none)
        #expect(Self.state(coordinator) == "Stable")
        // b heartbeats but never sends SyncGroup: after the rebalance timeout it is dropped.
        try await Self.eventually("b dropped") {
            coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .rebalanceInProgress
        }
        #expect(coordinator.describeGroup("g").members.map(\.memberId) == [a])
    }

    @Test func theInitialRebalanceWaitsForMoreMembers() async throws {
        let coordinator = Self.coordinator(initialDelay: .seconds(1))
        let start = ContinuousClock.now
        let a = Task { await coordinator.join(Self.join(client: "a")) }
        try await Task.sleep(for: .milliseconds(300))
        // b arrives within the delay, which therefore extends.
        let b = await coordinator.join(Self.join(client: "b"))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(1_900))
        let aResult = await a.value
        #expect(b.generationId == 1 && aResult.members.count == 2)
    }

    @Test func aRestartedStaticMemberTakesItsPlaceWithoutRebalance() async throws {
        let coordinator = Self.coordinator()
        let joined = try await Self.form(
            coordinator, [Self.join(instance: "i-a", client: "a"), Self.join(client: "b")])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        #expect(a.hasPrefix("i-a-"))
        async let syncB = coordinator.sync(Self.sync(generation: generation, member: b))
        _ = await coordinator.sync(Self.sync(generation: generation, member: a, assignments: [a: "pa", b: "pb"]))
        _ = await syncB
        // Instance i-a restarts and joins without member id: same generation, no rebalance, and
        // since it led, the old leader id so that it does not compute an assignment (pre-v9).
        let restarted = await coordinator.join(Self.join(instance: "i-a", client: "a"))
        #expect(restarted.error == .none && restarted.memberId != a && restarted.memberId.hasPrefix("i-a-"))
        #expect(restarted.generationId == generation && restarted.leader == a && restarted.members.isEmpty)
        #expect(Self.state(coordinator) == "Stable")
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: generation) == .none)
        // The old id is fenced; the new one gets the old assignment.
        #expect(
            coordinator.heartbeat(groupId: "g", memberId: a, groupInstanceId: "i-a", generationId: generation)
                == .fencedInstanceId)
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: generation) == .unknownMemberId)
        let synced = await coordinator.sync(Self.sync(generation: generation, member: restarted.memberId))
        #expect(synced.assignment == ByteBuffer(string: "pa"))
        let described = coordinator.describeGroup("g").members
        #expect(described.map(\.memberId) == [restarted.memberId, b])
        #expect(described.map(\.groupInstanceId) == ["i-a", nil])
        // v9: the leader learns the members but skips the assignment.
        var v9 = Self.join(instance: "i-a", client: "a")
        v9.supportsSkippingAssignment = true
        let again = await coordinator.join(v9)
        #expect(again.skipAssignment && again.leader == again.memberId && again.members.count == 2)
        // An administrator removes the instance by its id.
        let removed = coordinator.leave(groupId: "g", members: [.init(memberId: "", groupInstanceId: "i-a")])
        #expect(removed.members.map(\.error) == [.none])
        #expect(Self.state(coordinator) == "PreparingRebalance")
    }

    @Test func listAndDescribe() async throws {
        let coordinator = Self.coordinator()
        _ = try await Self.stableGroup(coordinator, ["a", "b"])
        // "other" rebalances: its leader rejoined, z has not yet.
        let (other, otherGeneration) = try await Self.stableGroup(coordinator, ["y", "z"], group: "other")
        let rejoin = Task { await coordinator.join(Self.join("other", member: other["y"]!, client: "y")) }
        try await Self.eventually("other rebalancing") { Self.state(coordinator, "other") == "PreparingRebalance" }
        #expect(coordinator.validateCommit(groupId: "simple", generation: -1, memberId: "") == .none)

        #expect(coordinator.listGroups().groups.map(\.groupId) == ["g", "other", "simple"])
        #expect(coordinator.listGroups().groups.map(\.protocolType) == ["consumer", "consumer", ""])
        #expect(coordinator.listGroups(states: [" stable", "EMPTY"]).groups.map(\.groupId) == ["g", "simple"])
        #expect(coordinator.listGroups(types: ["Classic"]).groups.count == 3)
        #expect(coordinator.listGroups(types: ["consumer"]).groups.isEmpty)

        // The messages, at their versions: filters exist from v4 (states) and v5 (types).
        let request = ListGroupsRequest(statesFilter: ["PreparingRebalance"], typesFilter: ["share"])
        #expect(coordinator.listGroups(request, version: 3).groups.count == 3)
        #expect(coordinator.listGroups(request, version: 4).groups.map(\.groupId) == ["other"])
        #expect(coordinator.listGroups(request, version: 5).groups.isEmpty)
        let listed = coordinator.listGroups(ListGroupsRequest(), version: 5).groups[0]
        #expect(listed.groupState == "Stable" && listed.groupType == "classic" && listed.protocolType == "consumer")

        let described = coordinator.describeGroups(
            DescribeGroupsRequest(groups: ["g", "other", "missing"], includeAuthorizedOperations: true), version: 5)
        let g = described.groups[0]
        #expect(g.errorCode == 0 && g.groupState == "Stable")
        #expect(g.protocolType == "consumer" && g.protocolData == "range")
        #expect(g.members.map(\.clientId) == ["a", "b"] && g.members.allSatisfy { $0.clientHost == "/10.0.0.1" })
        #expect(g.members.map(\.memberMetadata) == [ByteBuffer(string: "sub-a"), ByteBuffer(string: "sub-b")])
        let assignments = [ByteBuffer(string: "assignment-a"), ByteBuffer(string: "assignment-b")]
        #expect(g.members.map(\.memberAssignment) == assignments)
        #expect(g.authorizedOperations == GroupCoordinator.groupAuthorizedOperations)
        // While rebalancing: members without metadata, no protocol.
        let rebalancing = described.groups[1]
        #expect(rebalancing.groupState == "PreparingRebalance" && rebalancing.protocolData == "")
        #expect(rebalancing.members.count == 2)
        #expect(rebalancing.members.allSatisfy { $0.memberMetadata.readableBytes == 0 })
        #expect(rebalancing.members.allSatisfy { $0.memberAssignment.readableBytes == 0 })
        // Unknown: Dead, no error (DescribeGroups v0-5).
        let missing = described.groups[2]
        #expect(missing.errorCode == 0 && missing.groupState == "Dead" && missing.members.isEmpty)
        #expect(
            coordinator.describeGroups(DescribeGroupsRequest(groups: ["g"]), version: 2).groups[0].authorizedOperations
                == Int32.min)

        #expect(coordinator.overview().map(\.state) == [.stable, .preparingRebalance, .empty])
        let z = await coordinator.join(Self.join("other", member: other["z"]!, client: "z"))
        let y = await rejoin.value
        #expect(z.generationId == otherGeneration + 1 && y.generationId == otherGeneration + 1)
    }

    @Test func offsetCommitsFollowKafkasRules() async throws {
        let coordinator = Self.coordinator()
        // A consumer that assigns partitions itself: no generation, no member.
        #expect(coordinator.validateCommit(groupId: "manual", generation: -1, memberId: "") == .none)
        #expect(Self.state(coordinator, "manual") == "Empty")
        #expect(coordinator.validateCommit(groupId: "manual", generation: -1, memberId: "") == .none)
        #expect(coordinator.validateCommit(groupId: "unknown", generation: 3, memberId: "m") == .illegalGeneration)
        #expect(coordinator.validateCommit(groupId: "manual", generation: 0, memberId: "m") == .unknownMemberId)

        let joined = try await Self.form(coordinator, [Self.join(client: "a"), Self.join(client: "b")])
        let (a, b) = (joined[0].memberId, joined[1].memberId)
        let generation = joined[0].generationId
        // CompletingRebalance: members must wait for their assignment.
        #expect(coordinator.validateCommit(groupId: "g", generation: generation, memberId: a) == .rebalanceInProgress)
        async let syncB = coordinator.sync(Self.sync(generation: generation, member: b))
        _ = await coordinator.sync(Self.sync(generation: generation, member: a, assignments: [:]))
        _ = await syncB
        #expect(coordinator.validateCommit(groupId: "g", generation: generation, memberId: a) == .none)
        #expect(coordinator.validateCommit(groupId: "g", generation: generation + 1, memberId: a) == .illegalGeneration)
        #expect(
            coordinator.validateCommit(groupId: "g", generation: generation, memberId: "stranger") == .unknownMemberId)
        #expect(coordinator.validateCommit(groupId: "g", generation: -1, memberId: "") == .unknownMemberId)
        #expect(
            coordinator.validateCommit(groupId: "g", generation: generation, memberId: a, groupInstanceId: "i")
                == .unknownMemberId)
        // PreparingRebalance: the current generation may still commit (before rejoining).
        _ = coordinator.leave(groupId: "g", members: [.init(memberId: b)])
        #expect(Self.state(coordinator) == "PreparingRebalance")
        #expect(coordinator.validateCommit(groupId: "g", generation: generation, memberId: a) == .none)
        #expect(coordinator.validateCommit(groupId: "g", generation: generation, memberId: b) == .unknownMemberId)
        // Once empty, simple commits are allowed again.
        _ = coordinator.leave(groupId: "g", members: [.init(memberId: a)])
        #expect(coordinator.validateCommit(groupId: "g", generation: -1, memberId: "") == .none)
        #expect(coordinator.deleteGroup("g") == .none)
        #expect(coordinator.deleteGroup("g") == .groupIdNotFound)
    }

    @Test func closeAnswersParkedRequests() async throws {
        let coordinator = Self.coordinator(initialDelay: .seconds(30))
        let parked = Task { await coordinator.join(Self.join(client: "a")) }
        try await Self.eventually("a parked") { !coordinator.describeGroup("g").members.isEmpty }
        // A group in CompletingRebalance with a follower waiting for its assignment.
        let quick = Self.coordinator()
        let joined = try await Self.form(quick, [Self.join(client: "x"), Self.join(client: "y")])
        let parkedSync = Task { await quick.sync(Self.sync(generation: 2, member: joined[1].memberId)) }
        try await Task.sleep(for: .milliseconds(50))

        let start = ContinuousClock.now
        coordinator.close()
        quick.close()
        #expect(await parked.value.error == .coordinatorNotAvailable)
        #expect(await parkedSync.value.error == .coordinatorNotAvailable)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(await coordinator.join(Self.join(client: "b")).error == .coordinatorNotAvailable)
        #expect(
            quick.heartbeat(groupId: "g", memberId: joined[0].memberId, generationId: 2) == .coordinatorNotAvailable)
        #expect(quick.listGroups().error == .coordinatorNotAvailable)
        #expect(quick.validateCommit(groupId: "g", generation: -1, memberId: "") == .coordinatorNotAvailable)
    }

    @Test func aCancelledJoinReturnsAtOnceAndStillCounts() async throws {
        let coordinator = Self.coordinator(initialDelay: .seconds(1))
        let a = Task { await coordinator.join(Self.join(client: "a")) }
        try await Self.eventually("a parked") { !coordinator.describeGroup("g").members.isEmpty }
        a.cancel()
        let cancelled = await a.value
        #expect(cancelled.error == .rebalanceInProgress)
        #expect(Self.state(coordinator) == "PreparingRebalance")
        // As in Kafka, the member whose connection died still counts as joined.
        let b = await coordinator.join(Self.join(client: "b"))
        #expect(b.generationId == 1 && b.members.isEmpty && b.leader != b.memberId)
        #expect(coordinator.describeGroup("g").members.count == 2)
        // A task cancelled before it even joins returns at once too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await coordinator.join(Self.join("h", client: "c"))
        }
        #expect(await early.value.error == .rebalanceInProgress)
    }

    @Test func clientHostIsTheRemoteIPAsKafkaPrintsIt() {
        #expect(KafkaAPI.clientHost("[IPv4]127.0.0.1/127.0.0.1:50123") == "/127.0.0.1")
        #expect(KafkaAPI.clientHost("[IPv6]::1/::1:50123") == "/::1")
        #expect(KafkaAPI.clientHost("?") == "?")
    }

    @Test func joinGroupAtEveryVersionOverTheWire() async throws {
        for version in JoinGroupRequest.validVersions {
            let coordinator = Self.coordinator(initialDelay: .zero)
            var request = JoinGroupRequest(
                groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, memberId: "",
                groupInstanceId: nil, protocolType: "consumer",
                protocols: [.init(name: "range", metadata: ByteBuffer(string: "m"))])
            func roundTrip() async throws -> JoinGroupResponse {
                var wire = ByteBuffer()
                request.encode(to: &wire, version: version)
                let decoded = try JoinGroupRequest(from: &wire, version: version)
                let response = await coordinator.joinGroup(decoded, version: version, clientId: "c", clientHost: "/h")
                var out = ByteBuffer()
                response.encode(to: &out, version: version)
                return try JoinGroupResponse(from: &out, version: version)
            }
            var response = try await roundTrip()
            if version >= 4 {
                #expect(response.errorCode == ErrorCode.memberIdRequired.rawValue, "v\(version)")
                request.memberId = response.memberId
                response = try await roundTrip()
            }
            #expect(response.errorCode == 0 && response.generationId == 1, "v\(version)")
            #expect(response.protocolName == "range" && response.leader == response.memberId, "v\(version)")
            #expect(response.members.map(\.metadata) == [ByteBuffer(string: "m")], "v\(version)")
            #expect(response.protocolType == (version >= 7 ? "consumer" : nil), "v\(version)")

            var sync = SyncGroupRequest(
                groupId: "g", generationId: 1, memberId: response.memberId, protocolType: "consumer",
                protocolName: "range",
                assignments: [.init(memberId: response.memberId, assignment: .init(string: "a"))])
            var wire = ByteBuffer()
            let syncVersion = min(version, SyncGroupRequest.validVersions.upperBound)
            sync.encode(to: &wire, version: syncVersion)
            sync = try SyncGroupRequest(from: &wire, version: syncVersion)
            let synced = await coordinator.syncGroup(sync, version: syncVersion)
            #expect(synced.errorCode == 0 && synced.assignment == ByteBuffer(string: "a"), "v\(version)")
            coordinator.close()
        }
    }
}
