import Foundation
import NIOCore
import Synchronization
import Testing

@testable import LogStore

/// Durability against power loss: a fault-injecting file system drops every byte not covered by
/// an fdatasync and every directory change not covered by a directory fsync. Crashing at random
/// points of a concurrent workload, every append acknowledged under flush=always must be present,
/// intact and at its offset after recovery, and no unacknowledged batch may be half-present.
@Suite struct PowerLossTests {
    static let writers = 3
    static let appendsPerWriter = 25
    static let recordsPerBatch = 2

    /// Offsets and values of acknowledged records.
    final class Acknowledgements: Sendable {
        let records = Mutex<[Int64: String]>([:])
    }

    /// Runs the workload until done or until the file system "crashes".
    func runWorkload(_ fs: FaultInjectingFileSystem, segmentBytes: Int) async -> Acknowledgements {
        let acks = Acknowledgements()
        guard let manager = try? LogManager(.small(fs.root, segmentBytes: segmentBytes, fileSystem: fs)) else {
            return acks
        }
        if manager.metadata(of: "t") == nil {
            guard (try? manager.createTopic("t")) != nil else {
                await manager.close()
                return acks
            }
        }
        guard let log = try? manager.log(topic: "t", partition: 0) else { return acks }
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<Self.writers {
                group.addTask {
                    for i in 0..<Self.appendsPerWriter {
                        let prefix = "w\(writer)-\(i)"
                        let batch = Batches.make(count: Self.recordsPerBatch, prefix: prefix, valueSize: 40 + i * 7)
                        guard let result = try? await log.append(batch) else { return }
                        let values = (try? Batches.values(batch)) ?? []
                        acks.records.withLock { records in
                            for (j, value) in values.enumerated() { records[result.baseOffset + Int64(j)] = value }
                        }
                    }
                }
            }
        }
        await manager.close()
        return acks
    }

    /// Reopens after the power loss and checks the log against the acknowledgements.
    func check(_ fs: FaultInjectingFileSystem, acks: [Int64: String], crashPoint: Int) async throws {
        let manager = try LogManager(.small(fs.root, segmentBytes: 2048, fileSystem: fs))
        defer { _ = manager }
        guard manager.metadata(of: "t") != nil else {
            #expect(acks.isEmpty, "crash at \(crashPoint): the topic vanished after acknowledgements")
            await manager.close()
            return
        }
        let log = try manager.log(topic: "t", partition: 0)
        var found: [Int64: String] = [:]
        var offset = log.logStartOffset
        while offset < log.highWatermark {
            let result = try log.read(from: offset, maxBytes: 1 << 16)
            let records = try Batches.records(result.records)
            #expect(!records.isEmpty)
            if records.isEmpty { break }
            for record in records where record.offset >= offset {
                #expect(record.offset == offset, "crash at \(crashPoint): offsets must be contiguous")
                found[record.offset] = String(decoding: record.value ?? [], as: UTF8.self)
                offset = record.offset + 1
            }
        }
        for (offset, value) in acks {
            #expect(found[offset] == value, "crash at \(crashPoint): acknowledged offset \(offset) lost or changed")
        }
        // All or nothing per batch: both records of an append, or neither.
        var perBatch: [String: Int] = [:]
        for value in found.values {
            let prefix = value.split(separator: "-").prefix(2).joined(separator: "-")
            perBatch[prefix, default: 0] += 1
        }
        for (prefix, count) in perBatch {
            #expect(count == Self.recordsPerBatch, "crash at \(crashPoint): batch \(prefix) is half-present")
        }
        await manager.close()
        let report = try LogVerifier(fileSystem: fs).verify(dataDirectory: fs.root)
        #expect(report.isHealthy, "crash at \(crashPoint): \(report.problems)")
    }

    @Test(arguments: [2048, 1 << 20])
    func acknowledgedAppendsSurviveRandomPowerLoss(segmentBytes: Int) async throws {
        // Count the operations of an uncrashed run, then crash at random points inside it.
        let probe = try FaultInjectingFileSystem.temporary()
        let full = await runWorkload(probe, segmentBytes: segmentBytes)
        let total = probe.operationCount
        try? FileManager.default.removeItem(atPath: probe.root)
        #expect(full.records.withLock { $0.count } == Self.writers * Self.appendsPerWriter * Self.recordsPerBatch)
        #expect(total > 50)

        var generator = SystemRandomNumberGenerator()
        var crashPoints = (0..<40).map { _ in Int.random(in: 1...total, using: &generator) }
        crashPoints += [1, 2, 3, total / 2, total - 1]
        var survivedAcks = 0
        for crashPoint in crashPoints {
            let fs = try FaultInjectingFileSystem.temporary()
            defer { try? FileManager.default.removeItem(atPath: fs.root) }
            fs.crashAfterOperations(crashPoint)
            let acks = await runWorkload(fs, segmentBytes: segmentBytes).records.withLock { $0 }
            survivedAcks += acks.count
            try fs.simulatePowerLoss()
            try await check(fs, acks: acks, crashPoint: crashPoint)
            // And the recovered log keeps working: a second crash-free run appends after it.
            let more = await runWorkload(fs, segmentBytes: segmentBytes).records.withLock { $0 }
            #expect(more.count == Self.writers * Self.appendsPerWriter * Self.recordsPerBatch)
        }
        #expect(survivedAcks > 0, "no crash point came after an acknowledgement; the test proves little")
    }
}
