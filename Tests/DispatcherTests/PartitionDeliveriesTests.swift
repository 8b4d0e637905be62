import LogStore
import Testing

@testable import Dispatcher

@Suite struct PartitionDeliveriesTests {
    func record(_ offset: Int64, key: String? = nil) -> Record {
        Record(offset: offset, timestamp: 0, key: key.map { Array($0.utf8) }, value: Array("v\(offset)".utf8))
    }

    func filled(_ keys: [String?], from start: Int64 = 0) -> PartitionDeliveries {
        var state = PartitionDeliveries(partition: 0, cursor: SubscriptionCursor(offset: start, updatedAt: 0))
        for (i, key) in keys.enumerated() { state.add(record(start + Int64(i), key: key), accepted: true) }
        return state
    }

    @Test func noneStartsAnythingUpToTheLimit() {
        let state = filled(["a", "a", "b", nil])
        #expect(state.startable(ordering: .none, now: 0, limit: 3) == [0, 1, 2])
        #expect(state.startable(ordering: .none, now: 0, limit: 10) == [0, 1, 2, 3])
    }

    @Test func strictStartsOnlyTheLowestUnfinished() {
        var state = filled(["a", "b", "c"])
        #expect(state.startable(ordering: .strict, now: 0, limit: 10) == [0])
        _ = state.markInFlight(0)
        #expect(state.startable(ordering: .strict, now: 0, limit: 10).isEmpty)
        state.finish(0)
        #expect(state.startable(ordering: .strict, now: 0, limit: 10) == [1])
    }

    @Test func keyOrderingHoldsLaterRecordsOfAKeyBehindEarlierOnes() {
        var state = filled(["a", "b", "a", nil, "b", nil])
        #expect(state.startable(ordering: .key, now: 0, limit: 10) == [0, 1, 3, 5])
        _ = state.markInFlight(0)
        _ = state.markInFlight(1)
        // An earlier "a" waiting for a retry still holds the later "a" back.
        state.retry(0, attempts: 1, nextAttemptAt: 1_000, error: "HTTP 500")
        #expect(state.startable(ordering: .key, now: 500, limit: 10) == [3, 5])
        #expect(state.startable(ordering: .key, now: 1_000, limit: 10) == [0, 3, 5])
        state.finish(0)
        #expect(state.startable(ordering: .key, now: 1_000, limit: 10) == [2, 3, 5])
        state.finish(1)
        #expect(state.startable(ordering: .key, now: 1_000, limit: 10) == [2, 3, 4, 5])
    }

    @Test func theCursorIsTheLowestUnfinishedOffset() {
        var state = filled(["a", "b", "c", "d"], from: 10)
        #expect(state.cursor == 10)
        state.finish(11)
        state.finish(12)
        #expect(state.cursor == 10)
        state.finish(10)
        #expect(state.cursor == 13)
        state.finish(13)
        #expect(state.cursor == 14)
    }

    @Test func filteredRecordsFinishAtOnce() {
        var state = PartitionDeliveries(partition: 0, cursor: SubscriptionCursor(offset: 0, updatedAt: 0))
        state.add(record(0), accepted: false)
        state.add(record(1), accepted: true)
        state.add(record(2), accepted: false)
        #expect(state.pending.keys.sorted() == [1])
        state.finish(1)
        #expect(state.cursor == 3)
    }

    @Test func aSnapshotRestoresFinishedAndPendingExactly() {
        var state = filled(["a", "b", "c", "d", "e"])
        state.finish(1)
        state.finish(3)
        _ = state.markInFlight(2)
        state.retry(2, attempts: 3, nextAttemptAt: 99_000, error: "HTTP 503")
        let snapshot = state.snapshot(now: 5)
        #expect(snapshot.offset == 0)
        #expect(snapshot.end == 5)
        #expect(snapshot.pending.map(\.offset) == [0, 2, 4])
        #expect(snapshot.pending.first { $0.offset == 2 }?.attempts == 3)

        // After a restart the same records are read again from the cursor.
        var restored = PartitionDeliveries(partition: 0, cursor: snapshot)
        for offset in Int64(0)..<6 { restored.add(record(offset, key: "k\(offset)"), accepted: true) }
        #expect(restored.pending.keys.sorted() == [0, 2, 4, 5])
        #expect(restored.pending[2]?.attempts == 3)
        #expect(restored.pending[2]?.nextAttemptAt == 99_000)
        #expect(restored.pending[5]?.attempts == 0)
    }

    @Test func aSnapshotBeforeEverythingIsReadAgainKeepsTheRestoredState() {
        var state = filled(["a", "b", "c"])
        state.finish(0)
        state.retry(1, attempts: 2, nextAttemptAt: 7, error: "x")
        let first = state.snapshot(now: 0)
        // Restarted, but nothing read yet: committing again must not lose what was known.
        let restored = PartitionDeliveries(partition: 0, cursor: first)
        let again = restored.snapshot(now: 1)
        #expect(again.offset == 1)
        #expect(again.end == 3)
        #expect(again.pending.map(\.offset) == [1, 2])
        #expect(again.pending.first?.attempts == 2)
    }

    @Test func gapsAndRetentionCountAsFinished() {
        var state = filled(["a"], from: 0)
        state.finish(0)
        state.skip(to: 50)
        #expect(state.cursor == 50)
        state.add(record(40), accepted: true)
        #expect(state.pending.isEmpty, "records below the read position are not taken again")
    }
}
