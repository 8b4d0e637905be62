import Foundation
import Synchronization

/// A compacted topic used as a durable map: each record's key names an entry, its value is the
/// entry's JSON, a tombstone deletes it. The whole map is loaded when opened and kept in memory;
/// a change becomes visible once its record is durable. The hub keeps its own state this way
/// (`__subscriptions`, `__cursors`, `__idempotency`).
///
/// Several maps may share one topic (subscription cursors and consumer groups' offsets both live
/// in `__cursors`): each one's `parseKey` accepts only its own record keys.
public final class KeyedStateTopic<Key: Hashable & Sendable, Value: Codable & Sendable>: Sendable {
    private let log: Log
    private let recordKey: @Sendable (Key) -> String
    private let datesInMilliseconds: Bool
    private let entries: Mutex<[Key: Value]>

    /// Opens `topic` (creating it, one partition, with `config`) and loads every live entry.
    /// - Parameters:
    ///   - recordKey: the record key of an entry's key.
    ///   - parseKey: the inverse of `recordKey`; nil for record keys this map does not own.
    ///   - datesInMilliseconds: `Date`s in values as milliseconds since 1970 (else Foundation's
    ///     default).
    ///   - keep: whether a loaded value is still wanted (an expired one is dropped as if deleted).
    /// - Throws: ``LogStoreError`` from creating, opening or reading the topic.
    public init(
        logs: LogManager, topic: String, config: [String: String] = ["cleanup.policy": "compact"],
        recordKey: @escaping @Sendable (Key) -> String, parseKey: (String) -> Key?,
        datesInMilliseconds: Bool = false, keep: (Value) -> Bool = { _ in true }
    ) throws {
        if logs.metadata(of: topic) == nil {
            try logs.createTopic(topic, partitions: 1, config: config)
        }
        log = try logs.log(topic: topic, partition: 0)
        self.recordKey = recordKey
        self.datesInMilliseconds = datesInMilliseconds
        var loaded: [Key: Value] = [:]
        let decoder = JSONDecoder()
        if datesInMilliseconds { decoder.dateDecodingStrategy = .millisecondsSince1970 }
        try log.forEachRecord { record in
            guard let bytes = record.key, let key = parseKey(String(decoding: bytes, as: UTF8.self)) else { return }
            if let value = record.value, let entry = try? decoder.decode(Value.self, from: Data(value)), keep(entry) {
                loaded[key] = entry
            } else {
                loaded[key] = nil
            }
        }
        entries = Mutex(loaded)
    }

    /// Reads or changes the in-memory map (a change made here is not stored).
    public func withEntries<Result: Sendable>(_ body: (inout [Key: Value]) throws -> Result) rethrows -> Result {
        try entries.withLock { try body(&$0) }
    }

    /// The entry of `key`, if any.
    public subscript(key: Key) -> Value? {
        entries.withLock { $0[key] }
    }

    /// Stores `changes` (nil deletes) as one batch, then makes them visible.
    /// - Throws: ``LogStoreError`` from the append, or an encoding error.
    public func store(_ changes: [(key: Key, value: Value?)], timestamp: Int64 = wallClockMilliseconds()) async throws {
        guard !changes.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if datesInMilliseconds { encoder.dateEncodingStrategy = .millisecondsSince1970 }
        var builder = RecordBatchBuilder()
        for (key, value) in changes {
            builder.append(
                key: Array(recordKey(key).utf8), value: try value.map { Array(try encoder.encode($0)) }, headers: [],
                timestamp: timestamp)
        }
        _ = try await log.append(try builder.build())
        entries.withLock { entries in
            for (key, value) in changes { entries[key] = value }
        }
    }
}
