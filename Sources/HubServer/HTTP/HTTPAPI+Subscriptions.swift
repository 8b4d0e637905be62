import Dispatcher
import Foundation
import Hummingbird
import LogStore

/// `/topics/{topic}/subscribe`, `/topics/{topic}/unsubscribe` and `/subscriptions`.
extension HTTPAPI {
    func addSubscriptionRoutes(to router: Router<HubRequestContext>) {
        router.route(.post, "/topics/:topic/subscribe", in: routes) { request, context in
            try context.require(.subscribe)
            let topic = try Self.parameter("topic", context)
            let body = try await Self.decode(SubscribeBody.self, from: request)
            return try Self.json(try await subscribe(topic: topic, body, context: context), status: .created)
        }
        router.route(.post, "/topics/:topic/unsubscribe", in: routes) { request, context in
            try context.require(.subscribe)
            let topic = try Self.parameter("topic", context)
            let body = try await Self.decode(UnsubscribeBody.self, from: request)
            guard (body.id == nil) != (body.url == nil) else {
                throw APIError.badRequest("give either id or url")
            }
            let matches = subscriptions.all.filter {
                $0.topic == topic && ($0.id == body.id || (body.url != nil && $0.url == body.url))
            }
            guard !matches.isEmpty else {
                throw APIError.notFound("no subscription of topic '\(topic)' matches \(body.id ?? body.url ?? "")")
            }
            for subscription in matches { try await remove(subscription.id) }
            return try Self.json(["deleted": matches.map(\.id)])
        }
        router.route(.get, "/subscriptions", in: routes) { request, context in
            try context.require(.subscribe)
            let topic = request.uri.queryParameters.get("topic")
            let list = subscriptions.all.filter { topic == nil || $0.topic == topic }
            return try Self.json(["subscriptions": list.map { SubscriptionView($0, secret: false) }])
        }
        router.route(.get, "/subscriptions/:id", in: routes) { _, context in
            try context.require(.subscribe)
            let subscription = try existing(try Self.parameter("id", context))
            return try Self.json(await view(of: subscription, secret: true))
        }
        router.route(.patch, "/subscriptions/:id", in: routes) { request, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            let patch = try await Self.decode(SubscriptionPatch.self, from: request)
            let updated = try await update(id, patch)
            let showSecret = patch.rotateSecret == true || patch.secret != nil
            return try Self.json(await view(of: updated, secret: showSecret))
        }
        router.route(.delete, "/subscriptions/:id", in: routes) { _, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            _ = try existing(id)
            try await remove(id)
            return Self.noContent
        }
        router.route(.post, "/subscriptions/:id/replay", in: routes) { request, context in
            try context.require(.subscribe)
            let subscription = try existing(try Self.parameter("id", context))
            let body = try await Self.decode(ReplayBody.self, from: request)
            let offsets = try replayOffsets(subscription, body)
            if let dispatcher {
                try await dispatcher.replay(subscription: subscription.id, offsets: offsets)
            } else {
                let now = wallClockMilliseconds()
                try await cursors.commit(
                    subscription: subscription.id, topic: subscription.topic,
                    offsets.mapValues { SubscriptionCursor(offset: $0, updatedAt: now) })
            }
            return try Self.json(await view(of: subscription, secret: false))
        }
    }

    private func existing(_ id: String) throws -> Subscription {
        guard let subscription = subscriptions.subscription(id: id) else {
            throw APIError.notFound("no subscription \(id)")
        }
        return subscription
    }

    private func subscribe(topic: String, _ body: SubscribeBody, context: HubRequestContext) async throws -> SubscriptionView {
        guard !topic.hasPrefix("__") else {
            throw APIError(.forbidden, "forbidden", "internal topics cannot be subscribed to")
        }
        if logs.metadata(of: topic) == nil {
            guard settings.autoCreateTopics else { throw APIError.notFound("topic '\(topic)' does not exist") }
            do {
                try logs.createTopic(topic)
            } catch let error as LogStoreError where error.code == .topicAlreadyExists {}
        }
        guard let metadata = logs.metadata(of: topic) else { throw APIError.notFound("topic '\(topic)' does not exist") }
        let now = Date()
        var subscription = Subscription(
            id: Subscription.makeID(), topic: topic, url: body.url, eventTypes: body.eventTypes ?? [],
            ordering: body.ordering ?? .none, maxInFlight: body.maxInFlight ?? Subscription.defaultMaxInFlight,
            retrySchedule: body.retrySchedule, secret: body.secret ?? Subscription.generateSecret(),
            headers: body.headers ?? [:], description: body.description, createdAt: now, updatedAt: now)
        try subscription.validate()
        try await checkCallback(subscription.url)
        subscription.startOffsets = try startOffsets(body.startFrom ?? .latest, topic: topic, partitions: metadata.partitions)
        let created = try await subscriptions.create(subscription)
        let stamp = wallClockMilliseconds()
        try await cursors.commit(
            subscription: created.id, topic: topic,
            created.startOffsets.mapValues { SubscriptionCursor(offset: $0, updatedAt: stamp) })
        return SubscriptionView(created, secret: true, positions: positions(of: created))
    }

    private func update(_ id: String, _ patch: SubscriptionPatch) async throws -> Subscription {
        _ = try existing(id)
        if let url = patch.url {
            try Subscription.validate(url: url)
            try await checkCallback(url)
        }
        if let state = patch.state, state != .active && state != .paused {
            throw APIError.badRequest("state can be set to active (resume) or paused, not \(state.rawValue)")
        }
        if patch.rotateSecret == true && patch.secret != nil {
            throw APIError.badRequest("give rotateSecret or secret, not both")
        }
        let newSecret = patch.secret ?? (patch.rotateSecret == true ? Subscription.generateSecret() : nil)
        return try await subscriptions.update(id: id) { subscription in
            if let state = patch.state {
                subscription.state = state
                subscription.stateReason = nil
            }
            if let url = patch.url { subscription.url = url }
            if let eventTypes = patch.eventTypes { subscription.eventTypes = eventTypes }
            if let ordering = patch.ordering { subscription.ordering = ordering }
            if let maxInFlight = patch.maxInFlight { subscription.maxInFlight = maxInFlight }
            if let retrySchedule = patch.retrySchedule { subscription.retrySchedule = retrySchedule }
            if let headers = patch.headers { subscription.headers = headers }
            if let description = patch.description { subscription.description = description }
            if let newSecret { subscription.rotateSecret(to: newSecret, now: Date()) }
            try subscription.validate()
        }
    }

    private func remove(_ id: String) async throws {
        try await subscriptions.delete(id: id)
        try await cursors.delete(subscription: id)
    }

    /// Resolves a start position to an offset per partition (fixed now, so `latest` keeps
    /// meaning "from the moment of subscribing").
    private func startOffsets(_ position: StartPosition, topic: String, partitions: Int) throws -> [Int: Int64] {
        var offsets: [Int: Int64] = [:]
        for partition in 0..<partitions {
            let log = try self.log(topic, partition)
            switch position {
            case .latest:
                offsets[partition] = log.highWatermark
            case .earliest:
                offsets[partition] = log.logStartOffset
            case .time(let date):
                let millis = Int64(date.timeIntervalSince1970 * 1000)
                offsets[partition] = try log.offset(forTimestamp: millis)?.offset ?? log.highWatermark
            case .offsets(let given):
                if let outside = given.keys.first(where: { $0 >= partitions }) {
                    throw APIError.badRequest("topic '\(topic)' has no partition \(outside)")
                }
                offsets[partition] = min(max(given[partition] ?? log.highWatermark, log.logStartOffset), log.highWatermark)
            }
        }
        return offsets
    }

    private func replayOffsets(_ subscription: Subscription, _ body: ReplayBody) throws -> [Int: Int64] {
        let given = [body.fromOffset != nil, body.fromOffsets != nil, body.fromTime != nil].filter { $0 }.count
        guard given == 1 else { throw APIError.badRequest("give exactly one of fromOffset, fromOffsets, fromTime") }
        guard let metadata = logs.metadata(of: subscription.topic) else {
            throw APIError.notFound("topic '\(subscription.topic)' does not exist")
        }
        let position: StartPosition
        if let offset = body.fromOffset {
            guard offset >= 0 else { throw APIError.badRequest("fromOffset must be 0 or more") }
            position = .offsets(Dictionary(uniqueKeysWithValues: (0..<metadata.partitions).map { ($0, offset) }))
        } else if let map = body.fromOffsets {
            var offsets: [Int: Int64] = [:]
            for (key, offset) in map {
                guard let partition = Int(key), partition >= 0, offset >= 0 else {
                    throw APIError.badRequest("fromOffsets maps partitions to offsets, both non-negative integers")
                }
                offsets[partition] = offset
            }
            // Partitions not named keep their cursors: only the named ones are returned.
            if let outside = offsets.keys.first(where: { $0 >= metadata.partitions }) {
                throw APIError.badRequest("topic '\(subscription.topic)' has no partition \(outside)")
            }
            return try offsets.reduce(into: [Int: Int64]()) { result, entry in
                let log = try self.log(subscription.topic, entry.key)
                result[entry.key] = min(max(entry.value, log.logStartOffset), log.highWatermark)
            }
        } else {
            guard let text = body.fromTime, let date = parseTimestamp(text) else {
                throw APIError.badRequest("fromTime must be an RFC 3339 time such as 2026-01-31T12:00:00Z")
            }
            position = .time(date)
        }
        return try startOffsets(position, topic: subscription.topic, partitions: metadata.partitions)
    }

    /// The detailed view: positions per partition and delivery counts.
    func view(of subscription: Subscription, secret: Bool) async -> SubscriptionView {
        var view = SubscriptionView(subscription, secret: secret, positions: positions(of: subscription))
        let stats = await dispatcher?.stats(subscription: subscription.id) ?? DeliveryStats()
        view.counts = .init(stats)
        view.lastError = .init(
            value: stats.lastError.map {
                .init(message: $0, at: Date(timeIntervalSince1970: Double(stats.lastErrorAt ?? 0) / 1000))
            })
        return view
    }

    /// Cursor, end and lag of each partition of the subscription's topic.
    func positions(of subscription: Subscription) -> [SubscriptionView.PartitionPosition] {
        guard let metadata = logs.metadata(of: subscription.topic) else { return [] }
        let current = cursors.cursors(subscription: subscription.id)
        return (0..<metadata.partitions).compactMap { partition in
            guard let log = try? logs.log(topic: subscription.topic, partition: partition) else { return nil }
            let end = log.highWatermark
            let cursor = min(
                max(current[partition]?.offset ?? subscription.startOffsets[partition] ?? 0, log.logStartOffset), end)
            return .init(partition: partition, cursor: cursor, endOffset: end, lag: end - cursor)
        }
    }
}
