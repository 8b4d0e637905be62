import Foundation
import LogStore
import NIOCore
import Synchronization
import Testing

/// Durability against a killed process: a child `hooklog append` (flush=always) prints each
/// acknowledged offset; the test SIGKILLs it at random moments and checks, after every round,
/// that every acknowledged record is present and intact at its offset.
@Suite struct KillDuringAppendTests {
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["HOOKLOG_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hooklog").path
    }()

    @Test func acknowledgedRecordsSurviveSIGKILL() async throws {
        signal(SIGPIPE, SIG_IGN)
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build hooklog first: \(Self.binary)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-kill-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var generator = SystemRandomNumberGenerator()
        var acknowledged: [Int64: String] = [:]
        let rounds = 24
        for round in 0..<rounds {
            let (lines, offsets) = try runChild(
                dataDir: dir, round: round, killAfter: .milliseconds(Int.random(in: 80...400, using: &generator)),
                batchSize: [1, 3, 50][round % 3])
            #expect(offsets.count <= lines.count)
            for (line, offset) in zip(lines, offsets) {
                #expect(acknowledged[offset] == nil, "offset \(offset) acknowledged twice")
                acknowledged[offset] = line
            }
            try await checkLog(dataDir: dir, acknowledged: acknowledged)
        }
        #expect(acknowledged.count > rounds, "the child acknowledged almost nothing; the test proves little")
        let report = try LogVerifier().verify(dataDirectory: dir)
        #expect(report.isHealthy, "\(report.problems)")
    }

    /// Runs one child until it is killed; returns the lines sent and the offsets it acknowledged.
    private func runChild(dataDir: String, round: Int, killAfter: Duration, batchSize: Int) throws -> ([String], [Int64]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "append", "events", "--data-dir", dataDir, "--flush", "always", "--batch-size", String(batchSize),
            "--min-free-bytes", "0",
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let collected = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.withLock { $0.append(data) }
        }
        try process.run()
        let lines = Mutex<[String]>([])
        let writer = Thread {
            var i = 0
            while process.isRunning {
                var chunk = ""
                var batch: [String] = []
                for _ in 0..<20 {
                    let line = "round\(round)-line\(i)-" + String(repeating: "x", count: i % 97)
                    batch.append(line)
                    chunk += line + "\n"
                    i += 1
                }
                lines.withLock { $0 += batch }
                do {
                    try input.fileHandleForWriting.write(contentsOf: Data(chunk.utf8))
                } catch {
                    return
                }
                usleep(2000)
            }
        }
        writer.start()
        Thread.sleep(forTimeInterval: Double(killAfter.components.attoseconds) / 1e18)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        while !writer.isFinished { usleep(1000) }
        try? input.fileHandleForWriting.close()
        // Drain what the child printed before it died.
        output.fileHandleForReading.readabilityHandler = nil
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        let data = collected.withLock { $0 + rest }
        let text = String(decoding: data, as: UTF8.self)
        // A line cut by the kill is not an acknowledgement.
        let complete = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)])
        let offsets = complete.split(separator: "\n").map { Int64($0)! }
        return (lines.withLock { $0 }, offsets)
    }

    /// Reopens the data directory and checks every acknowledged record.
    private func checkLog(dataDir: String, acknowledged: [Int64: String]) async throws {
        var configuration = LogManager.Configuration(dataDirectory: dataDir)
        configuration.options.minFreeBytes = 0
        let manager = try LogManager(configuration)
        guard manager.metadata(of: "events") != nil else {
            #expect(acknowledged.isEmpty)
            await manager.close()
            return
        }
        let log = try manager.log(topic: "events", partition: 0)
        var found: [Int64: String] = [:]
        var offset = log.logStartOffset
        while offset < log.highWatermark {
            let result = try log.read(from: offset, maxBytes: 1 << 20)
            let records = try result.records.withUnsafeReadableBytes { try RecordBatch.decodeAll($0) }
            for record in records where record.offset >= offset {
                #expect(record.offset == offset, "offsets must be contiguous")
                found[record.offset] = String(decoding: record.value ?? [], as: UTF8.self)
                offset = record.offset + 1
            }
        }
        for (offset, line) in acknowledged {
            #expect(found[offset] == line, "acknowledged offset \(offset) lost or changed")
        }
        await manager.close()
    }
}
