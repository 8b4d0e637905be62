import Foundation
import NIOCore
import Synchronization
import Testing

@testable import LogStore

/// Group commit in two stages (flush policy `always`): the writer writes the next group while
/// the syncer's fdatasync of the previous one runs; a group is readable and acknowledged only
/// after an fdatasync that started after its write, and groups are answered in log order.
@Suite struct PipelinedSyncTests {
    /// Offsets of the appends answered so far, by tag.
    final class Answers: Sendable {
        let offsets = Mutex<[String: Int64]>([:])
        func answered(_ tag: String) -> Bool { offsets.withLock { $0[tag] != nil } }
    }

    struct Fixture {
        let fs: FaultInjectingFileSystem
        let manager: LogManager
        let log: Log
        let answers = Answers()

        init() throws {
            fs = try FaultInjectingFileSystem.temporary(prefix: "pipelined-sync")
            var configuration = LogManager.Configuration.small(fs.root, segmentBytes: 1 << 20, fileSystem: fs)
            configuration.defaultTopicConfig.flushPolicy = .always
            manager = try LogManager(configuration)
            try manager.createTopic("t")
            log = try manager.log(topic: "t", partition: 0)
        }

        /// Starts an append of one record "<tag>" and records its offset when it is answered.
        func append(_ tag: String) -> Task<Void, any Error> {
            let log = self.log
            let answers = self.answers
            return Task {
                let result = try await log.append(Batches.make(count: 1, prefix: tag))
                answers.offsets.withLock { $0[tag] = result.baseOffset }
            }
        }
    }

    /// With segment syncs held: a lone append "a", synced by the writer itself and let through;
    /// "b" and "c", queued behind it, written as one group whose fdatasync (the syncer's) stays
    /// held; and "d", written while that fdatasync is held. Returns b's, c's and d's tasks.
    static func writeDuringHeldSync(_ fixture: Fixture) async throws -> [Task<Void, any Error>] {
        let (fs, log) = (fixture.fs, fixture.log)
        fs.holdSegmentSyncs()
        let a = fixture.append("a")
        try await waitUntil("a's fdatasync is held") { fs.heldSyncs == 1 }
        let b = fixture.append("b")
        let c = fixture.append("c")
        try await waitUntil("b and c are queued") { log.queue.withLock { $0.items.count } == 2 }
        fs.letSyncsThrough(1)
        try await a.value
        #expect(log.highWatermark == 1)
        try await waitUntil("b and c's fdatasync is held") { fs.heldSyncs == 1 && log.logEndOffset == 3 }
        let d = fixture.append("d")
        try await waitUntil("d is written") { log.logEndOffset == 4 }
        return [b, c, d]
    }

    /// Polls `condition` every millisecond for up to 10 s.
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            if ContinuousClock.now > deadline {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test func theNextGroupIsWrittenDuringAnFdatasyncAndAnsweredOnlyAfterItsOwn() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.fs.root) }
        let (fs, log, answers) = (fixture.fs, fixture.log, fixture.answers)
        let tasks = try await Self.writeDuringHeldSync(fixture)
        let (b, c, d) = (tasks[0], tasks[1], tasks[2])

        // d was written while b and c's fdatasync is held (the overlap), and nothing unsynced
        // is readable or answered (an early answer would have 20 ms to show).
        try await Task.sleep(for: .milliseconds(20))
        #expect(fs.heldSyncs == 1)
        #expect(log.highWatermark == 1)
        #expect(!answers.answered("b") && !answers.answered("c") && !answers.answered("d"))
        #expect(try log.read(from: 1, maxBytes: 1 << 20).records.readableBytes == 0)

        // The held fdatasync started before d was written: it answers b and c, not d.
        fs.letSyncsThrough(1)
        try await b.value
        try await c.value
        #expect(log.highWatermark == 3)
        #expect(!answers.answered("d"))
        try await Self.waitUntil("d's fdatasync is held") { fs.heldSyncs == 1 }
        try await Task.sleep(for: .milliseconds(20))
        #expect(log.highWatermark == 3)
        #expect(!answers.answered("d"))

        fs.stopHoldingSyncs()
        try await d.value
        #expect(log.highWatermark == 4)
        let offsets = answers.offsets.withLock { $0 }
        #expect(offsets["a"] == 0 && offsets["d"] == 3 && Set([offsets["b"], offsets["c"]]) == [1, 2])
        let values = try Batches.values(log.read(from: 0, maxBytes: 1 << 20).records)
        for (tag, offset) in offsets { #expect(values[Int(offset)] == "\(tag)-0") }
        await fixture.manager.close()
    }

    @Test func powerLossWhileAWrittenGroupAwaitsItsFdatasyncKeepsEverythingAnswered() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.fs.root) }
        let fs = fixture.fs
        let tasks = try await Self.writeDuringHeldSync(fixture)

        // Power fails while b, c and d are written but not synced; the held sync then fails.
        fs.crashAfterOperations(0)
        fs.stopHoldingSyncs()
        for task in tasks { await #expect(throws: (any Error).self) { try await task.value } }
        await fixture.manager.close()
        try fs.simulatePowerLoss()

        let reopened = try LogManager(.small(fs.root, segmentBytes: 1 << 20, fileSystem: fs))
        let recovered = try reopened.log(topic: "t", partition: 0)
        #expect(recovered.highWatermark == 1, "only the answered append survives; nothing half-written is read")
        let values = try Batches.values(recovered.read(from: 0, maxBytes: 1 << 20).records)
        #expect(values == ["a-0"])
        await reopened.close()
    }

    /// Linux reports a write-back error to only one of two concurrent fsyncs of a file, so the
    /// one that acknowledges must be alone: a roll's sync of the old segment waits for the
    /// syncer. Many rolls under concurrent appenders, and no file is ever synced twice at once.
    @Test func noSegmentIsSyncedByTwoThreadsAtOnce() async throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "pipelined-sync-rolls")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        var configuration = LogManager.Configuration.small(fs.root, segmentBytes: 1024, fileSystem: fs)
        configuration.defaultTopicConfig.flushPolicy = .always
        let manager = try LogManager(configuration)
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        let answers = Answers()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for i in 0..<40 {
                        let result = try await log.append(Batches.make(count: 1, prefix: "w\(writer)-\(i)"))
                        answers.offsets.withLock { $0["w\(writer)-\(i)"] = result.baseOffset }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(log.info.segments.count > 20, "the workload rolls often")
        #expect(fs.maxConcurrentSyncsOfOneFile == 1)
        var values: [Int64: String] = [:]
        var offset: Int64 = 0
        while offset < log.highWatermark {
            let read = try log.read(from: offset, maxBytes: 1 << 20)
            for record in try Batches.records(read.records) {
                values[record.offset] = String(decoding: record.value ?? [], as: UTF8.self)
                offset = record.offset + 1
            }
        }
        let offsets = answers.offsets.withLock { $0 }
        #expect(offsets.count == 320)
        for (tag, offset) in offsets { #expect(values[offset] == "\(tag)-0") }
        await manager.close()
    }
}
