import Foundation
import LogStore
import Synchronization

/// Every subscription, kept in memory and stored in the compacted internal topic
/// `__subscriptions` (key = id, value = the subscription's JSON, tombstone = deleted). Rebuilt
/// from the topic on start; a change is visible only after its record is durable.
public final class SubscriptionRegistry: Sendable {
    public static let topic = "__subscriptions"

    private let entries: KeyedStateTopic<String, Subscription>
    private let writes = AsyncLock()
    private let observers = Mutex<[@Sendable (SubscriptionChange) -> Void]>([])

    /// Opens (creating if needed) `__subscriptions` and loads every live subscription.
    public init(logs: LogManager) throws {
        entries = try KeyedStateTopic(
            logs: logs, topic: Self.topic, recordKey: { $0 }, parseKey: { $0 }, datesInMilliseconds: true)
    }

    /// Every subscription, oldest first.
    public var all: [Subscription] {
        entries.withEntries { $0.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func subscription(id: String) -> Subscription? {
        entries[id]
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
            try await entries.store([(id, nil)])
            notify(.deleted(subscription))
            return subscription
        }
    }

    private func store(_ subscription: Subscription) async throws {
        try await entries.store([(subscription.id, subscription)])
    }

    private func notify(_ change: SubscriptionChange) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }
}

/// A change to the set of subscriptions.
public enum SubscriptionChange: Sendable {
    case created(Subscription)
    case updated(before: Subscription, after: Subscription)
    case deleted(Subscription)
}
