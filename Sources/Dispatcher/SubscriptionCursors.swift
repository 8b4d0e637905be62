import Foundation
import LogStore
import Synchronization

/// Where one subscription stands in one partition: the lowest offset not yet finished
/// (delivered, dead-lettered or filtered out), plus what the Dispatcher needs to resume exactly.
/// Offsets in `offset..<end` that are not listed in `pending` have finished (the finished set is
/// stored as its complement, which stays small); each pending one carries its retry state, so a
/// restart neither redelivers finished events nor restarts retry schedules.
public struct SubscriptionCursor: Sendable, Codable, Hashable {
    /// A delivery not finished yet, with its retry state.
    public struct PendingRetry: Sendable, Codable, Hashable {
        public var offset: Int64
        /// Attempts made so far (0: not tried yet).
        public var attempts: Int
        /// Milliseconds since the epoch (0: due now).
        public var nextAttemptAt: Int64

        public init(offset: Int64, attempts: Int, nextAttemptAt: Int64) {
            self.offset = offset
            self.attempts = attempts
            self.nextAttemptAt = nextAttemptAt
        }
    }

    /// The lowest unfinished offset.
    public var offset: Int64
    /// The first offset the Dispatcher had not read; nil = nothing known past `offset`.
    public var end: Int64?
    /// The unfinished deliveries in `offset..<end`.
    public var pending: [PendingRetry]
    /// Where reading stops (a dead-letter redrive covers a fixed range); nil = tail the log.
    public var limit: Int64?
    /// Milliseconds since the epoch.
    public var updatedAt: Int64

    public init(
        offset: Int64, end: Int64? = nil, pending: [PendingRetry] = [], limit: Int64? = nil, updatedAt: Int64
    ) {
        self.offset = offset
        self.end = end
        self.pending = pending
        self.limit = limit
        self.updatedAt = updatedAt
    }
}

/// Subscription cursors, stored in the compacted internal topic `__cursors` (key
/// `sub/<subscription id>/<topic>/<partition>`, value JSON; consumer groups share the topic
/// under `group/` keys) and kept in memory. A cursor is never ahead of its partition's high
/// watermark: on load it is clamped to it.
public final class SubscriptionCursors: Sendable {
    public static let topic = "__cursors"

    struct Key: Hashable, Sendable {
        var subscription: String
        var topic: String
        var partition: Int

        var recordKey: String { "sub/\(subscription)/\(topic)/\(partition)" }

        /// Parses `sub/<id>/<topic>/<partition>` (ids and topic names contain no "/").
        init?(recordKey: String) {
            let parts = recordKey.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "sub", let partition = Int(parts[3]) else { return nil }
            subscription = String(parts[1])
            topic = String(parts[2])
            self.partition = partition
        }

        init(subscription: String, topic: String, partition: Int) {
            self.subscription = subscription
            self.topic = topic
            self.partition = partition
        }
    }

    private let state: KeyedStateTopic<Key, SubscriptionCursor>

    /// Opens (creating if needed) `__cursors` and loads every subscription cursor.
    public init(logs: LogManager) throws {
        state = try KeyedStateTopic(
            logs: logs, topic: Self.topic, recordKey: \.recordKey, parseKey: Key.init(recordKey:))
        state.withEntries { entries in
            for (key, cursor) in entries {
                if let partitionLog = try? logs.log(topic: key.topic, partition: key.partition),
                    cursor.offset > partitionLog.highWatermark
                {
                    entries[key] = SubscriptionCursor(offset: partitionLog.highWatermark, updatedAt: cursor.updatedAt)
                }
            }
        }
    }

    /// The cursors of one subscription, by partition.
    public func cursors(subscription: String) -> [Int: SubscriptionCursor] {
        state.withEntries { entries in
            var result: [Int: SubscriptionCursor] = [:]
            for (key, cursor) in entries where key.subscription == subscription { result[key.partition] = cursor }
            return result
        }
    }

    /// Stores cursors durably (one batch), then makes them visible.
    public func commit(subscription: String, topic: String, _ cursors: [Int: SubscriptionCursor]) async throws {
        try await state.store(
            cursors.sorted { $0.key < $1.key }.map { partition, cursor in
                (Key(subscription: subscription, topic: topic, partition: partition), cursor)
            })
    }

    /// Forgets a subscription's cursors (tombstones in `__cursors`).
    public func delete(subscription: String) async throws {
        let keys = state.withEntries { $0.keys.filter { $0.subscription == subscription } }
        try await state.store(keys.map { ($0, nil) })
    }
}
