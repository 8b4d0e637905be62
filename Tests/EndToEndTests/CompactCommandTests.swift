import Foundation
import LogStore
import NIOCore
import Synchronization
import Testing

/// `hooklog compact` and `hooklog verify --repair` on a stopped hub's data directory, and a child
/// `hooklog compact` SIGKILLed at random moments.
@Suite struct CompactCommandTests {
    static func configuration(_ directory: String) -> LogManager.Configuration {
        var configuration = LogManager.Configuration(dataDirectory: directory)
        configuration.defaultTopicConfig.segmentBytes = 2048
        configuration.defaultTopicConfig.indexIntervalBytes = 256
        configuration.defaultTopicConfig.segmentIndexBytes = 4096
        configuration.defaultTopicConfig.flushPolicy = .never
        configuration.options.minFreeBytes = 0
        return configuration
    }

    /// Appends `batches` batches over `keys` keys (every fifth record a tombstone) to topic "c"
    /// (created compacted when missing), closes, and returns every record appended by offset.
    static func append(to directory: String, batches: Int, keys: Int, round: Int) async throws -> [Int64: Record] {
        let manager = try LogManager(configuration(directory))
        if manager.metadata(of: "c") == nil {
            try manager.createTopic("c", config: ["cleanup.policy": "compact", "delete.retention.ms": "86400000"])
        }
        let log = try manager.log(topic: "c", partition: 0)
        var appended: [Int64: Record] = [:]
        for i in 0..<batches {
            var builder = RecordBatchBuilder(compression: i % 4 == 0 ? .lz4 : .none)
            for j in 0..<3 {
                let n = (i * 3 + j) % keys
                let value: [UInt8]? = (i + j) % 5 == 0 ? nil : Array("r\(round)-\(i)-\(j)-".utf8) + [UInt8](repeating: 120, count: n)
                builder.append(key: Array("key-\(n)".utf8), value: value, headers: [], timestamp: 1_700_000_000_000 + Int64(i))
            }
            let batch = try builder.build()
            let result = try await log.append(batch)
            for record in try batch.withUnsafeReadableBytes({ try RecordBatch.decodeAll($0) }) {
                var placed = record
                placed.offset = result.baseOffset + record.offset
                appended[placed.offset] = placed
            }
        }
        await manager.close()
        return appended
    }

    /// Every readable record of topic "c", stepping over batches without records.
    static func readAll(_ directory: String) async throws -> [Record] {
        let manager = try LogManager(configuration(directory))
        let log = try manager.log(topic: "c", partition: 0)
        var records: [Record] = []
        var offset = log.logStartOffset
        while offset < log.highWatermark {
            var bytes = try log.read(from: offset, maxBytes: 1 << 20).records
            guard bytes.readableBytes > 0 else { break }
            while bytes.readableBytes >= RecordBatchHeader.size {
                let header = bytes.withUnsafeReadableBytes { RecordBatchHeader(parsing: $0)! }
                let batch = bytes.readSlice(length: header.totalSize)!
                records += try batch.withUnsafeReadableBytes { try RecordBatch.decode($0) }.filter { $0.offset >= offset }
                offset = max(offset, header.lastOffset + 1)
            }
        }
        await manager.close()
        return records
    }

    static func latest(_ records: some Sequence<Record>) -> [[UInt8]: Record] {
        var latest: [[UInt8]: Record] = [:]
        for record in records where (latest[record.key!]?.offset ?? -1) < record.offset { latest[record.key!] = record }
        return latest
    }

    static func expectSameLogicalContents(_ directory: String, original: [Int64: Record], _ context: String) async throws {
        let records = try await readAll(directory)
        var previous: Int64 = -1
        for record in records {
            #expect(record.offset > previous, "\(context): offsets must grow")
            previous = record.offset
            #expect(original[record.offset] == record, "\(context): record at \(record.offset) is not the original")
        }
        #expect(latest(records) == latest(original.values), "\(context): the latest record per key differs")
    }

    @Test func compactsPrintsASummaryAndDryRunChangesNothing() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-compact-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try await Self.append(to: dir, batches: 200, keys: 20, round: 0)
        let listing = { try FileManager.default.contentsOfDirectory(atPath: dir + "/c-0").sorted() }
        let before = try listing()
        let dry = try await CLITests.hooklog(["compact", "c", "--data-dir", dir, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.hasPrefix("would compact c-0: segments"), "\(dry.stdout)")
        #expect(try listing() == before)
        let real = try await CLITests.hooklog(["compact", "c", "--data-dir", dir, "--partition", "0"])
        #expect(real.status == 0, "\(real.stderr)")
        #expect(real.stdout.contains("compacted c-0: segments") && real.stdout.contains("tombstones dropped"), "\(real.stdout)")
        // Piped: no progress bar, only the summary line.
        #expect(!real.stdout.contains("\r") && real.lines.count == 1)
        try await Self.expectSameLogicalContents(dir, original: original, "after hooklog compact")
        // Only the active segment keeps superseded records.
        #expect(try await Self.readAll(dir).count < original.count / 2)
        let unknown = try await CLITests.hooklog(["compact", "nope", "--data-dir", dir])
        #expect(unknown.status == 1 && unknown.stderr.contains("does not exist"))
    }

    @Test func refusesWhileAHubHoldsTheLock() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-compact-lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await Self.append(to: dir, batches: 20, keys: 5, round: 0)
        let manager = try LogManager(Self.configuration(dir))
        let refused = try await CLITests.hooklog(["compact", "c", "--data-dir", dir])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is in use by a running hub"), "\(refused.stderr)")
        let repair = try await CLITests.hooklog(["verify", "--data-dir", dir, "--repair"])
        #expect(repair.status == 1 && repair.stderr.contains("stop it before --repair"), "\(repair.stderr)")
        await manager.close()
    }

    @Test func verifyRepairTruncatesAtTheFirstBadBatchAndRebuildsIndexes() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-repair-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try await Self.append(to: dir, batches: 120, keys: 1000, round: 0)
        let partition = dir + "/c-0"
        let logs = try FileManager.default.contentsOfDirectory(atPath: partition).filter { $0.hasSuffix(".log") }.sorted()
        #expect(logs.count >= 4)
        // A bad entry in the first segment's offset index: a position that is no batch start.
        let index = partition + "/" + logs[0].replacingOccurrences(of: ".log", with: ".index")
        var indexBytes = try Data(contentsOf: URL(fileURLWithPath: index))
        #expect(indexBytes.count >= 8)
        indexBytes[7] &+= 3
        try indexBytes.write(to: URL(fileURLWithPath: index))
        // A flipped byte inside a batch of the third segment (its CRC no longer matches).
        let corrupt = partition + "/" + logs[2]
        var logBytes = try Data(contentsOf: URL(fileURLWithPath: corrupt))
        logBytes[logBytes.count / 2] ^= 0xFF
        try logBytes.write(to: URL(fileURLWithPath: corrupt))

        let broken = try await CLITests.hooklog(["verify", "--data-dir", dir])
        #expect(broken.status == 1 && broken.stdout.contains("CRC mismatch") && broken.stdout.contains("not a batch start"))
        let repaired = try await CLITests.hooklog(["verify", "--data-dir", dir, "--repair"])
        #expect(repaired.status == 0, "\(repaired.stdout)\(repaired.stderr)")
        #expect(repaired.stdout.contains("REPAIRED \(corrupt) cut at byte"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("later segments deleted"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("REBUILT indexes of \(partition)/\(logs[0])"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("all well"), "\(repaired.stdout)")
        // What is left is an intact prefix of the log.
        let records = try await Self.readAll(dir)
        #expect(!records.isEmpty && records.count < original.count)
        for (i, record) in records.enumerated() {
            #expect(record.offset == Int64(i) && original[record.offset] == record)
        }
    }

    @Test func killedCompactionsLeaveTheSameLogicalContents() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: KillDuringAppendTests.binary), "build hooklog first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-kill-compact-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var original: [Int64: Record] = [:]
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        for round in 0..<20 {
            original.merge(try await Self.append(to: dir, batches: 400, keys: 100, round: round)) { $1 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: KillDuringAppendTests.binary)
            process.arguments = ["compact", "c", "--data-dir", dir, "--map-bytes", "480"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...250, using: &generator)))
            if process.isRunning { killedMidway += 1 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try await Self.expectSameLogicalContents(dir, original: original, "round \(round)")
            let report = try LogVerifier().verify(dataDirectory: dir)
            #expect(report.isHealthy, "round \(round): \(report.problems)")
        }
        #expect(killedMidway >= 5, "the child finished before most kills; the test proves little")
    }
}
