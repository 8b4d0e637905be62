import Foundation
import LogStore
import Synchronization

/// Every subscription, kept in memory and stored in the compacted internal topic
/// `__subscriptions` (key = id, value = the subscription's JSON, tombstone = deleted). Rebuilt
/// from the topic on start; a change is visible only after its record is durable.
public final class SubscriptionRegistry: Sendable {
    public static let topic = "__subscriptions"

    private let log: Log
    private let entries: Mutex<[String: Subscription]>
    private let writes = AsyncLock()
    private let observers = Mutex<[@Sendable (SubscriptionChange) -> Void]>([])

    /// Opens (creating if needed) `__subscriptions` and loads every live subscription.
    public init(logs: LogManager) throws {
        if logs.metadata(of: Self.topic) == nil {
            try logs.createTopic(Self.topic, partitions: 1, config: ["cleanup.policy": "compact"])
        }
        log = try logs.log(topic: Self.topic, partition: 0)
        var loaded: [String: Subscription] = [:]
        let decoder = Self.decoder
        try log.forEachRecord { record in
            guard let key = record.key else { return }
            let id = String(decoding: key, as: UTF8.self)
            if let value = record.value, let subscription = try? decoder.decode(Subscription.self, from: Data(value)) {
                loaded[id] = subscription
            } else {
                loaded[id] = nil
            }
        }
        entries = Mutex(loaded)
    }

    /// Every subscription, oldest first.
    public var all: [Subscription] {
        entries.withLock { $0.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func subscription(id: String) -> Subscription? {
        entries.withLock { $0[id] }
    }

    /// Calls `observer` after every change (on the task that made it).
    public func observe(_ observer: @escaping @Sendable (SubscriptionChange) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Stores a new subscription.
    /// - Throws: `DispatcherError.subscriptionConflict` when the id exists; storage errors.
    public func create(_ subscription: Subscription) async throws -> Subscription {
        try await writes.withLock {
            guard self.subscription(id: subscription.id) == nil else {
                throw DispatcherError(.subscriptionConflict, "subscription \(subscription.id) already exists")
            }
            try await store(subscription)
            notify(.created(subscription))
            return subscription
        }
    }

    /// Changes a subscription with `transform` and stores it; changes to one subscription are
    /// applied one at a time.
    /// - Throws: `DispatcherError.subscriptionNotFound`, what `transform` throws, storage errors.
    @discardableResult
    public func update(
        id: String, _ transform: @Sendable (inout Subscription) throws -> Void
    ) async throws -> Subscription {
        try await writes.withLock {
            guard var subscription = self.subscription(id: id) else {
                throw DispatcherError(.subscriptionNotFound, "no subscription \(id)")
            }
            let before = subscription
            try transform(&subscription)
            subscription.id = before.id
            subscription.topic = before.topic
            guard subscription != before else { return subscription }
            subscription.updatedAt = Date()
            try await store(subscription)
            notify(.updated(before: before, after: subscription))
            return subscription
        }
    }

    /// Deletes a subscription; returns it, or nil when there was none.
    @discardableResult
    public func delete(id: String) async throws -> Subscription? {
        try await writes.withLock {
            guard let subscription = self.subscription(id: id) else { return nil }
            var builder = RecordBatchBuilder()
            builder.append(key: Array(id.utf8), value: nil, headers: [], timestamp: wallClockMilliseconds())
            _ = try await log.append(try builder.build())
            entries.withLock { _ = $0.removeValue(forKey: id) }
            notify(.deleted(subscription))
            return subscription
        }
    }

    private func store(_ subscription: Subscription) async throws {
        var builder = RecordBatchBuilder()
        builder.append(
            key: Array(subscription.id.utf8), value: Array(try Self.encoder.encode(subscription)), headers: [],
            timestamp: wallClockMilliseconds())
        _ = try await log.append(try builder.build())
        entries.withLock { $0[subscription.id] = subscription }
    }

    private func notify(_ change: SubscriptionChange) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }
}

/// A change to the set of subscriptions.
public enum SubscriptionChange: Sendable {
    case created(Subscription)
    case updated(before: Subscription, after: Subscription)
    case deleted(Subscription)
}
