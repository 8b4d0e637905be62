import Foundation
import NIOCore
import Testing

@testable import LogStore

/// Random streams of puts and deletes over a small key space, compacted at random moments: the
/// log keeps exactly the latest record of each key (at its original offset, byte for byte),
/// drops tombstones only past `delete.retention.ms`, and never changes its end offset.
@Suite struct CompactionPropertyTests {
    static let retention: Int64 = 10_000

    @Test(arguments: [
        (operations: 500, keys: 12, mapBytes: 1 << 20),
        (operations: 500, keys: 40, mapBytes: 24 * 8),  // a tiny map: many passes per compaction
    ])
    func latestValuePerKeySurvivesRandomCompactions(operations: Int, keys: Int, mapBytes: Int) async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("CompactionPropertyTests seed \(seed) (operations \(operations), keys \(keys), mapBytes \(mapBytes))")
        var random = SeededGenerator(seed: seed)
        let dir = TestDirectory("compaction-property")
        defer { dir.remove() }
        let clock = ManualClock()
        var configuration = CompactionFixtures.configuration(dir.path, segmentBytes: 1024, clock: clock)
        configuration.defaultTopicConfig.deleteRetentionMs = Self.retention
        var manager = try LogManager(configuration)
        try manager.createTopic("t", config: ["cleanup.policy": "compact"])
        var log = try manager.log(topic: "t", partition: 0)
        var model = CompactionModel()
        var compactions = 0
        var tombstonesDropped: Int64 = 0
        for step in 0..<operations {
            var records: [(key: String, value: String?)] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let key = "key-\(Int.random(in: 0..<keys, using: &random))"
                let delete = Int.random(in: 0..<5, using: &random) == 0
                records.append((key, delete ? nil : "value-\(step)-\(key)-" + String(repeating: "x", count: Int.random(in: 0...40, using: &random))))
            }
            let compression: Compression = Bool.random(using: &random) ? .lz4 : .none
            let batch = CompactionFixtures.batch(records, timestamp: clock.now, compression: compression)
            let result = try await log.append(batch)
            try model.record(batch, at: result.baseOffset)
            clock.advance(by: Int64.random(in: 0...200, using: &random))
            if Int.random(in: 0..<40, using: &random) == 0 || step == operations - 1 {
                let end = log.logEndOffset
                let report = try await log.compact(CompactionOptions(mapBytes: mapBytes))
                compactions += 1
                tombstonesDropped += report.tombstonesDropped
                #expect(log.logEndOffset == end, "seed \(seed): compaction changed the log end offset")
                if report.passes > 0 { model.cleanHistory.append((report.cleanedUpTo, clock.now)) }
                try check(log, model: model, cleanedUpTo: report.cleanedUpTo, now: clock.now, seed: seed)
            }
            if step == operations / 2 {
                // Reopen half-way: the cleaner checkpoint and cleaned segments persist.
                await manager.close()
                manager = try LogManager(configuration)
                log = try manager.log(topic: "t", partition: 0)
            }
        }
        // Roll the active segment's records into the closed part, then compact twice: the first
        // pass brings everything into the clean range, the second (past the horizon) drops tombstones.
        // At least one key ends deleted, so a tombstone must reach its horizon.
        let delete = CompactionFixtures.batch([("key-0", nil)], timestamp: clock.now)
        try model.record(delete, at: try await log.append(delete).baseOffset)
        for round in 0..<2 {
            if round == 1 { clock.advance(by: Self.retention + 1) }
            let filler = CompactionFixtures.batch(
                [("filler", String(repeating: "f", count: 900))], timestamp: clock.now)
            try model.record(filler, at: try await log.append(filler).baseOffset)
            try model.record(filler, at: try await log.append(filler).baseOffset)
            let report = try await log.compact(CompactionOptions(mapBytes: mapBytes))
            if report.passes > 0 { model.cleanHistory.append((report.cleanedUpTo, clock.now)) }
            try check(log, model: model, cleanedUpTo: report.cleanedUpTo, now: clock.now, seed: seed)
            tombstonesDropped += report.tombstonesDropped
        }
        #expect(tombstonesDropped > 0, "seed \(seed): no tombstone ever reached its horizon; the test proves little")
        #expect(compactions >= 5)
        await manager.close()
        let verified = try LogVerifier().verify(dataDirectory: dir.path)
        #expect(verified.isHealthy, "seed \(seed): \(verified.problems)")
        let reopened = try LogManager(configuration)
        let reopenedLog = try reopened.log(topic: "t", partition: 0)
        try check(reopenedLog, model: model, cleanedUpTo: reopenedLog.info.cleanerOffset, now: clock.now, seed: seed)
        await reopened.close()
    }

    /// Checks the log against the model after a compaction that cleaned below `cleanedUpTo`.
    func check(_ log: Log, model: CompactionModel, cleanedUpTo: Int64, now: Int64, seed: UInt64) throws {
        let (records, _) = try CompactionFixtures.readAll(log)
        var previous: Int64 = -1
        var present: [Int64: CompactionModel.Entry] = [:]
        for record in records {
            #expect(record.offset > previous, "seed \(seed): offsets must grow strictly (\(record.offset) after \(previous))")
            previous = record.offset
            let entry = CompactionModel.Entry(
                key: String(decoding: record.key ?? [], as: UTF8.self),
                value: record.value.map { String(decoding: $0, as: UTF8.self) }, timestamp: record.timestamp)
            #expect(model.entries[record.offset] == entry, "seed \(seed): offset \(record.offset) changed")
            present[record.offset] = entry
        }
        let latest = model.latest()
        let horizon = model.tombstoneHorizon(now: now, retention: Self.retention)
        for (key, offset) in latest {
            let isTombstone = model.entries[offset]!.value == nil
            if isTombstone && offset < horizon {
                #expect(present[offset] == nil, "seed \(seed): tombstone of \(key) at \(offset) outlived its horizon \(horizon)")
            } else {
                #expect(present[offset] != nil, "seed \(seed): the latest record of \(key) (offset \(offset)) is missing")
            }
        }
        // In the clean range, a record survives only as the latest of its key there.
        let latestClean = model.latest(below: cleanedUpTo)
        for (offset, entry) in present where offset < cleanedUpTo {
            #expect(latestClean[entry.key] == offset, "seed \(seed): superseded record of \(entry.key) at \(offset) kept")
        }
        // Nothing past the clean range was touched.
        for (offset, _) in model.entries where offset >= max(cleanedUpTo, log.logStartOffset) {
            #expect(present[offset] != nil, "seed \(seed): dirty record at \(offset) is missing")
        }
    }
}
