import Foundation
import Testing

@testable import LogStore

/// KeyedStateTopic: a durable map over a compacted topic, reloaded from disk.
@Suite struct KeyedStateTopicTests {
    struct Note: Codable, Sendable, Equatable {
        var text: String
        var at: Date
    }

    private static func notes(_ manager: LogManager, prefix: String = "n/", keep: (Note) -> Bool = { _ in true }) throws
        -> KeyedStateTopic<String, Note>
    {
        try KeyedStateTopic(
            logs: manager, topic: "__state", recordKey: { prefix + $0 },
            parseKey: { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : nil }, datesInMilliseconds: true,
            keep: keep)
    }

    @Test func changesSurviveAReopenAndTombstonesDelete() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let at = Date(timeIntervalSince1970: 1_700_000_000.123)
        var manager = try LogManager(.small(dir.path))
        var notes = try Self.notes(manager)
        #expect(manager.metadata(of: "__state")?.configOverrides["cleanup.policy"] == "compact")
        try await notes.store([("a", Note(text: "one", at: at)), ("b", Note(text: "two", at: at))])
        try await notes.store([("a", Note(text: "three", at: at)), ("b", nil)])
        #expect(notes["a"]?.text == "three")
        #expect(notes["b"] == nil)
        await manager.close()

        manager = try LogManager(.small(dir.path))
        notes = try Self.notes(manager)
        #expect(notes.withEntries { $0 } == ["a": Note(text: "three", at: at)])
        // Dates as milliseconds since 1970, keys sorted: what the hub's topics have always held.
        var value: [UInt8]?
        try manager.log(topic: "__state", partition: 0).forEachRecord { if $0.key == Array("n/a".utf8) { value = $0.value } }
        #expect(value.map { String(decoding: $0, as: UTF8.self) } == #"{"at":1700000000123,"text":"three"}"#)
        await manager.close()
    }

    @Test func mapsSharingATopicSeeOnlyTheirOwnKeys() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        let first = try Self.notes(manager, prefix: "x/")
        let second = try Self.notes(manager, prefix: "y/")
        try await first.store([("k", Note(text: "first", at: Date(timeIntervalSince1970: 0)))])
        try await second.store([("k", Note(text: "second", at: Date(timeIntervalSince1970: 0)))])
        try await second.store([("k", nil)])
        #expect(try Self.notes(manager, prefix: "x/")["k"]?.text == "first")
        #expect(try Self.notes(manager, prefix: "y/")["k"] == nil)
        await manager.close()
    }

    @Test func unwantedAndUndecodableValuesAreDroppedOnLoad() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        let notes = try Self.notes(manager)
        try await notes.store([
            ("old", Note(text: "expired", at: Date(timeIntervalSince1970: 10))),
            ("new", Note(text: "fresh", at: Date(timeIntervalSince1970: 1000))),
        ])
        var builder = RecordBatchBuilder()
        builder.append(key: Array("n/bad".utf8), value: Array("not json".utf8), timestamp: 0)
        _ = try await manager.log(topic: "__state", partition: 0).append(try builder.build())
        let reloaded = try Self.notes(manager, keep: { $0.at.timeIntervalSince1970 > 100 })
        #expect(reloaded.withEntries { $0.keys.sorted() } == ["new"])
        await manager.close()
    }
}
