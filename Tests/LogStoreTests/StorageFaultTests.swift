import Foundation
import NIOCore
import Testing

@testable import LogStore

/// A full disk, failed fsyncs and retention, on a fault-injecting file system.
@Suite struct StorageFaultTests {
    @Test func freeSpaceWatermarkRefusesAndResumes() async throws {
        let fs = try FaultInjectingFileSystem.temporary()
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        var configuration = LogManager.Configuration.small(fs.root, fileSystem: fs)
        configuration.options.minFreeBytes = 10_000_000
        let manager = try LogManager(configuration)
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        _ = try await log.append(Batches.make(count: 3))
        fs.availableBytesOverride = 5_000_000
        let error = await #expect(throws: LogStoreError.self) { try await log.append(Batches.make(count: 3)) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains("watermark") == true)
        #expect(log.highWatermark == 3)
        #expect(try Batches.values(log.read(from: 0, maxBytes: 1 << 20).records).count == 3)
        fs.availableBytesOverride = nil
        let resumed = try await log.append(Batches.make(count: 1))
        #expect(resumed.baseOffset == 3)
        await manager.close()
    }

    @Test func enospcDuringWriteIsUndoneAndReported() async throws {
        let fs = try FaultInjectingFileSystem.temporary()
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let manager = try LogManager(.small(fs.root, fileSystem: fs))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        _ = try await log.append(Batches.make(count: 2, prefix: "kept"))
        fs.failWritesWithDiskFull = true
        let error = await #expect(throws: LogStoreError.self) { try await log.append(Batches.make(count: 2)) }
        #expect(error?.code == .diskFull)
        #expect(log.offlineError == nil)
        fs.failWritesWithDiskFull = false
        let next = try await log.append(Batches.make(count: 1, prefix: "after"))
        #expect(next.baseOffset == 2)
        #expect(try Batches.values(log.read(from: 0, maxBytes: 1 << 20).records) == ["kept-0", "kept-1", "after-0"])
        await manager.close()
        #expect(try LogVerifier(fileSystem: fs).verify(dataDirectory: fs.root).isHealthy)
    }

    @Test func failedFsyncTakesThePartitionOfflineWithoutRetrying() async throws {
        let fs = try FaultInjectingFileSystem.temporary()
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let manager = try LogManager(.small(fs.root, fileSystem: fs))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        _ = try await log.append(Batches.make(count: 2, prefix: "acked"))
        fs.failNextSync()
        let error = await #expect(throws: LogStoreError.self) { try await log.append(Batches.make(count: 2)) }
        #expect(error?.code == .offline)
        #expect(log.highWatermark == 2, "unsynced data never becomes visible")
        let later = await #expect(throws: LogStoreError.self) { try await log.append(Batches.make(count: 1)) }
        #expect(later?.code == .offline)
        let read = #expect(throws: LogStoreError.self) { try log.read(from: 0, maxBytes: 100) }
        #expect(read?.code == .offline)
        await manager.close()
        // Power loss after the failed fsync: the acknowledged records survive, recovery runs.
        try fs.simulatePowerLoss()
        let reopened = try LogManager(.small(fs.root, fileSystem: fs))
        #expect(!reopened.openedAfterCleanShutdown)
        let again = try reopened.log(topic: "t", partition: 0)
        #expect(try Batches.values(again.read(from: 0, maxBytes: 1 << 20).records).prefix(2) == ["acked-0", "acked-1"])
        await reopened.close()
    }

    @Test func retentionByTimeAndSizeDeletesWholeClosedSegments() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let now = Mutex<Int64>(10_000_000)
        var configuration = LogManager.Configuration.small(dir.path, segmentBytes: 1024)
        configuration.options.clock = { now.withLock { $0 } }
        let manager = try LogManager(configuration)
        try manager.createTopic("timed", config: ["retention.ms": "60000"])
        try manager.createTopic("sized", config: ["retention.bytes": "3000"])
        try manager.createTopic("kept", config: ["retention.ms": "-1"])
        for topic in ["timed", "sized", "kept"] {
            let log = try manager.log(topic: topic, partition: 0)
            for i in 0..<60 {
                _ = try await log.append(Batches.make(count: 2, prefix: "r\(i)", timestamp: 9_900_000 + Int64(i) * 1000))
            }
        }
        let timed = try manager.log(topic: "timed", partition: 0)
        let sized = try manager.log(topic: "sized", partition: 0)
        let kept = try manager.log(topic: "kept", partition: 0)
        let timedSegments = timed.info.segments
        #expect(timedSegments.count > 4)
        // Newest records are at 9_959_000; with now = 10_000_000 and 60 s retention, segments whose
        // newest record is before 9_940_000 go.
        let deleted = await manager.enforceRetention()
        #expect(deleted > 0)
        let expectedFirst: Int64 = timedSegments.dropLast().first { $0.maxTimestamp >= 9_940_000 }?.baseOffset
            ?? timedSegments.last!.baseOffset
        #expect(timed.logStartOffset == expectedFirst)
        #expect(timed.info.segments.first?.baseOffset == expectedFirst)
        let early = #expect(throws: LogStoreError.self) { try timed.read(from: 0, maxBytes: 100) }
        #expect(early?.code == .offsetOutOfRange)
        #expect(try Batches.records(timed.read(from: expectedFirst, maxBytes: 100).records).first?.offset == expectedFirst)
        #expect(sized.info.sizeInBytes <= 3000 + 1024)
        #expect(sized.info.sizeInBytes >= 3000 - 1024)
        #expect(kept.logStartOffset == 0)
        #expect(kept.info.segments.count == timedSegments.count)
        // Far in the future everything but the active segment goes; the active one stays.
        now.withLock { $0 = 99_000_000 }
        await manager.enforceRetention()
        #expect(timed.info.segments.count == 1)
        #expect(timed.logStartOffset == timed.info.segments[0].baseOffset)
        await manager.close()
        // The log start offset survives a restart.
        let reopened = try LogManager(configuration)
        #expect(try reopened.log(topic: "timed", partition: 0).logStartOffset == timed.info.segments[0].baseOffset)
        await reopened.close()
    }
}

import Synchronization
