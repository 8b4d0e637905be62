import Foundation
import NIOCore
import Synchronization
import Testing

@testable import LogStore

/// Compaction under crashes, concurrent readers, idempotent producers and dry runs.
@Suite struct CompactionTests {
    /// A compacted log in `directory` with `batches` batches over `keys` keys (some tombstones,
    /// some LZ4), closed cleanly. Returns every record by offset.
    static func fill(
        _ directory: String, clock: ManualClock, batches: Int = 120, keys: Int = 10, seed: UInt64 = 7
    ) async throws -> [Int64: Record] {
        var random = SeededGenerator(seed: seed)
        var configuration = CompactionFixtures.configuration(directory, segmentBytes: 1024, clock: clock)
        configuration.defaultTopicConfig.deleteRetentionMs = 1 << 40
        let manager = try LogManager(configuration)
        try manager.createTopic("t", config: ["cleanup.policy": "compact"])
        let log = try manager.log(topic: "t", partition: 0)
        for step in 0..<batches {
            var records: [(key: String, value: String?)] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let key = "k\(Int.random(in: 0..<keys, using: &random))"
                records.append((key, Int.random(in: 0..<6, using: &random) == 0 ? nil : "v\(step)-" + String(repeating: "y", count: step % 50)))
            }
            _ = try await log.append(
                CompactionFixtures.batch(records, timestamp: clock.now, compression: step % 3 == 0 ? .lz4 : .none))
            clock.advance(by: 10)
        }
        let all = try CompactionFixtures.readAll(log).records
        await manager.close()
        return Dictionary(uniqueKeysWithValues: all.map { ($0.offset, $0) })
    }

    /// The latest record of every key in `records`.
    static func latest(_ records: some Sequence<Record>) -> [[UInt8]: Record] {
        var latest: [[UInt8]: Record] = [:]
        for record in records where (latest[record.key!]?.offset ?? -1) < record.offset { latest[record.key!] = record }
        return latest
    }

    /// The log holds only original records (byte for byte, at their offsets) and the latest of
    /// every key.
    static func expectSameLogicalContents(_ log: Log, original: [Int64: Record], _ context: String) throws {
        let records = try CompactionFixtures.readAll(log).records
        var previous: Int64 = -1
        for record in records {
            #expect(record.offset > previous, "\(context): offsets must grow")
            previous = record.offset
            #expect(original[record.offset] == record, "\(context): record at \(record.offset) is not the original")
        }
        let expected = latest(original.values)
        let found = latest(records)
        #expect(found == expected, "\(context): the latest record per key differs")
        // Segments never overlap (a half-done swap must not leave old and new side by side).
        let segments = log.info.segments
        for (a, b) in zip(segments, segments.dropFirst()) {
            #expect(a.nextOffset <= b.baseOffset, "\(context): segments \(a.baseOffset) and \(b.baseOffset) overlap")
        }
    }

    @Test func powerLossDuringCompactionKeepsTheLogicalContents() async throws {
        let template = TestDirectory("compaction-crash-template")
        defer { template.remove() }
        let clock = ManualClock()
        let original = try await Self.fill(template.path, clock: clock, batches: 80)
        let configuration = { (fs: FaultInjectingFileSystem) -> LogManager.Configuration in
            var configuration = CompactionFixtures.configuration(fs.root, segmentBytes: 1024, clock: clock, fileSystem: fs)
            configuration.defaultTopicConfig.deleteRetentionMs = 1 << 40
            return configuration
        }
        func copy() throws -> FaultInjectingFileSystem {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("compaction-crash-\(UUID().uuidString)").path
            try FileManager.default.copyItem(atPath: template.path, toPath: root)
            return try FaultInjectingFileSystem(root: root)
        }
        // Count the compaction's file-system operations in an uncrashed run.
        let probe = try copy()
        defer { try? FileManager.default.removeItem(atPath: probe.root) }
        let probeManager = try LogManager(configuration(probe))
        let before = probe.operationCount
        let probeReport = try await probeManager.log(topic: "t", partition: 0).compact(CompactionOptions(mapBytes: 24 * 8))
        let operations = probe.operationCount - before
        #expect(probeReport.passes > 1 && probeReport.recordsRemoved > 0)
        await probeManager.close()

        let seed = UInt64.random(in: 0...UInt64.max)
        print("powerLossDuringCompaction seed \(seed), \(operations) operations per compaction")
        var random = SeededGenerator(seed: seed)
        var crashPoints = (0..<22).map { _ in Int.random(in: 1...operations, using: &random) }
        crashPoints += [1, operations - 1]
        for crashPoint in crashPoints {
            let fs = try copy()
            defer { try? FileManager.default.removeItem(atPath: fs.root) }
            let manager = try LogManager(configuration(fs))
            fs.crashAfterOperations(crashPoint)
            _ = try? await manager.log(topic: "t", partition: 0).compact(CompactionOptions(mapBytes: 24 * 8))
            await manager.close()
            try fs.simulatePowerLoss()

            let reopened = try LogManager(configuration(fs))
            let log = try reopened.log(topic: "t", partition: 0)
            try Self.expectSameLogicalContents(log, original: original, "crash at \(crashPoint) (seed \(seed))")
            let names = try fs.contentsOfDirectory(log.directory)
            #expect(!names.contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") }, "crash at \(crashPoint): \(names)")
            await reopened.close()
            let recovered = try LogVerifier(fileSystem: fs).verify(dataDirectory: fs.root)
            #expect(recovered.isHealthy, "crash at \(crashPoint), before compacting again: \(recovered.problems)")
            // And a compaction after recovery finishes the job.
            let again = try LogManager(configuration(fs))
            let log2 = try again.log(topic: "t", partition: 0)
            _ = try await log2.compact()
            try Self.expectSameLogicalContents(log2, original: original, "crash at \(crashPoint), compacted again")
            await again.close()
            let report = try LogVerifier(fileSystem: fs).verify(dataDirectory: fs.root)
            #expect(report.isHealthy, "crash at \(crashPoint): \(report.problems)")
        }
    }

    @Test func readersDuringCompactionSeeConsistentSequences() async throws {
        let dir = TestDirectory("compaction-readers")
        defer { dir.remove() }
        let clock = ManualClock()
        let original = try await Self.fill(dir.path, clock: clock, batches: 300, keys: 30)
        var configuration = CompactionFixtures.configuration(dir.path, segmentBytes: 1024, clock: clock)
        configuration.defaultTopicConfig.deleteRetentionMs = 1 << 40
        let manager = try LogManager(configuration)
        let log = try manager.log(topic: "t", partition: 0)
        let initialEnd = log.logEndOffset
        let latest = Self.latest(original.values)
        let done = CancellationFlag()
        let appended = LockedBox<[Int64: String]>([:])
        let reads = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                var fullReads = 0
                while !done.isSet || fullReads < 3 {
                    let records = try CompactionFixtures.readAll(log).records
                    var previous: Int64 = -1
                    var seen: [[UInt8]: Record] = [:]
                    for record in records {
                        #expect(record.offset > previous, "offsets must grow strictly")
                        previous = record.offset
                        if record.offset < initialEnd {
                            #expect(original[record.offset] == record, "record at \(record.offset) is not the original")
                            seen[record.key!] = record
                        } else {
                            let value = appended.value.withLock { $0[record.offset] }
                            #expect(value == nil || record.value.map { String(decoding: $0, as: UTF8.self) } == value)
                        }
                    }
                    // Never a missing range: every key's latest record is there in every read.
                    for (key, record) in latest {
                        #expect(seen[key]?.offset == record.offset, "a read lost the latest record of a key")
                    }
                    fullReads += 1
                }
                return fullReads
            }
            group.addTask {
                // Appends of new keys go on during the compactions.
                for i in 0..<60 {
                    let value = "new-\(i)"
                    let result = try await log.append(
                        CompactionFixtures.batch([("fresh-\(i)", value)], timestamp: clock.now))
                    appended.value.withLock { $0[result.baseOffset] = value }
                }
                return 0
            }
            group.addTask {
                for mapBytes in [24 * 8, 24 * 64, 1 << 20] {
                    _ = try await log.compact(CompactionOptions(mapBytes: mapBytes))
                }
                done.set()
                return 0
            }
            return try await group.reduce(0, +)
        }
        #expect(reads >= 3)
        await manager.close()
    }

    @Test func idempotentProducersKeepTheirLastBatch() async throws {
        let dir = TestDirectory("compaction-producers")
        defer { dir.remove() }
        let clock = ManualClock()
        let configuration = CompactionFixtures.configuration(dir.path, segmentBytes: 1024, clock: clock)
        var manager = try LogManager(configuration)
        try manager.createTopic("t", config: ["cleanup.policy": "compact"])
        var log = try manager.log(topic: "t", partition: 0)
        // Producer 7 writes k0..k3 twice (sequences 0..1); then plain writes supersede every key.
        var last: AppendResult?
        for sequence in Int32(0)..<2 {
            let batch = CompactionFixtures.batch(
                (0..<4).map { ("k\($0)", "p\(sequence)") }, timestamp: clock.now, producer: (7, 0, sequence * 4))
            last = try await log.append(batch)
        }
        for round in 0..<20 {
            _ = try await log.append(
                CompactionFixtures.batch((0..<4).map { ("k\($0)", "plain-\(round)-" + String(repeating: "z", count: 60)) }, timestamp: clock.now))
        }
        let report = try await log.compact()
        #expect(report.producerBatchesRetained == 1)
        let headers = try CompactionFixtures.readAll(log).batches
        let retained = headers.filter { $0.producerId == 7 }
        #expect(retained.count == 1 && retained.first?.baseOffset == last?.baseOffset && retained.first?.recordCount == 0)
        #expect(retained.first?.lastOffset == last?.lastOffset)
        // After a restart without the snapshot, the state comes back from the log: a retry of the
        // last batch is recognised, and the next sequence is accepted.
        await manager.close()
        try FileManager.default.removeItem(atPath: dir.path + "/t-0/" + ProducerStateSnapshot.fileName)
        manager = try LogManager(configuration)
        log = try manager.log(topic: "t", partition: 0)
        let retry = try await log.append(
            CompactionFixtures.batch((0..<4).map { ("k\($0)", "p1") }, timestamp: clock.now, producer: (7, 0, 4)))
        #expect(retry.baseOffset == last?.baseOffset)
        _ = try await log.append(
            CompactionFixtures.batch([("k9", "p2")], timestamp: clock.now, producer: (7, 0, 8)))
        await manager.close()
        let verified = try LogVerifier().verify(dataDirectory: dir.path)
        #expect(verified.isHealthy, "\(verified.problems)")
    }

    @Test func dryRunChangesNothing() async throws {
        let dir = TestDirectory("compaction-dry-run")
        defer { dir.remove() }
        let clock = ManualClock()
        _ = try await Self.fill(dir.path, clock: clock)
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path + "/t-0") {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/t-0/" + name))
            }
            return files
        }
        let manager = try LogManager(CompactionFixtures.configuration(dir.path, clock: clock))
        let log = try manager.log(topic: "t", partition: 0)
        let before = try snapshot()
        let infoBefore = log.info
        let dry = try await log.compact(CompactionOptions(dryRun: true))
        #expect(try snapshot() == before)
        #expect(log.info == infoBefore)
        #expect(dry.dryRun && dry.passes == 1 && dry.recordsRemoved > 0 && dry.bytesAfter < dry.bytesBefore)
        let real = try await log.compact()
        #expect(real.recordsRemoved == dry.recordsRemoved && real.bytesAfter == dry.bytesAfter)
        #expect(real.segmentsAfter == dry.segmentsAfter)
        await manager.close()
    }

    @Test func refusesTopicsThatAreNotCompacted() async throws {
        let dir = TestDirectory("compaction-policy")
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("plain")
        await #expect(throws: LogStoreError.self) { try await manager.log(topic: "plain", partition: 0).compact() }
        await manager.close()
    }
}
