import Foundation
import LogStore
import Logging
import NIOCore
import Synchronization

/// Consumer groups' committed offsets, stored in the compacted internal topic `__cursors`
/// (key `group/<group>/<topic>/<partition>`, value JSON) and kept in memory. Rebuilt from the
/// topic on start; a committed offset is never ahead of its partition's high watermark.
final class CommittedOffsets: Sendable {
    static let topic = "__cursors"

    /// One committed position.
    struct Entry: Sendable, Hashable, Codable {
        var offset: Int64
        var metadata: String?
        var commitTimestamp: Int64
    }

    struct Key: Hashable, Sendable {
        var group: String
        var topic: String
        var partition: Int32

        var recordKey: String { "group/\(group)/\(topic)/\(partition)" }

        /// Parses `group/<group>/<topic>/<partition>` (topic names cannot contain "/", so the
        /// group id may).
        init?(recordKey: String) {
            guard recordKey.hasPrefix("group/") else { return nil }
            let rest = recordKey.dropFirst("group/".count)
            guard let last = rest.lastIndex(of: "/"), let partition = Int32(rest[rest.index(after: last)...]) else {
                return nil
            }
            let head = rest[..<last]
            guard let middle = head.lastIndex(of: "/") else { return nil }
            self.group = String(head[..<middle])
            self.topic = String(head[head.index(after: middle)...])
            self.partition = partition
        }

        init(group: String, topic: String, partition: Int32) {
            self.group = group
            self.topic = topic
            self.partition = partition
        }
    }

    private let logs: LogManager
    private let state: KeyedStateTopic<Key, Entry>
    private let logger: Logger

    /// Opens (creating if needed) `__cursors` and loads every group's offsets, clamping each to
    /// its partition's current high watermark.
    init(logs: LogManager, logger: Logger) throws {
        self.logs = logs
        self.logger = logger
        state = try KeyedStateTopic(logs: logs, topic: Self.topic, recordKey: \.recordKey, parseKey: Key.init(recordKey:))
        state.withEntries { entries in
            for (key, entry) in entries {
                if let partitionLog = try? logs.log(topic: key.topic, partition: Int(key.partition)),
                    entry.offset > partitionLog.highWatermark
                {
                    entries[key]?.offset = partitionLog.highWatermark
                }
            }
        }
    }

    /// The committed offset of one partition, if any.
    func committed(_ key: Key) -> Entry? {
        state[key]
    }

    /// Every committed partition of a group.
    func committed(group: String) -> [Key: Entry] {
        state.withEntries { $0.filter { $0.key.group == group } }
    }

    /// Groups with at least one committed offset.
    var groups: Set<String> {
        state.withEntries { Set($0.keys.map(\.group)) }
    }

    /// Stores offsets durably (one batch in `__cursors`), then makes them visible. Offsets past a
    /// partition's high watermark are clamped to it.
    func commit(_ commits: [(Key, Entry)]) async throws {
        try await state.store(
            commits.map { key, entry in
                var entry = entry
                if let partitionLog = try? logs.log(topic: key.topic, partition: Int(key.partition)) {
                    entry.offset = min(entry.offset, partitionLog.highWatermark)
                }
                return (key, entry)
            })
    }

    /// Forgets a group's offsets (tombstones in `__cursors`).
    func deleteGroup(_ group: String) async throws {
        let keys = state.withEntries { $0.keys.filter { $0.group == group } }
        try await state.store(keys.map { ($0, nil) })
    }
}
