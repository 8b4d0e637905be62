import Dispatch
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import LogStore

/// When the active segment rolls: size, age (segment.ms) and a full index.
@Suite struct SegmentRollTests {
    @Test func rollsBySize() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 1024))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        for _ in 0..<40 { _ = try await log.append(Batches.make(count: 2, valueSize: 50)) }
        let segments = log.info.segments
        #expect(segments.count > 3)
        for segment in segments { #expect(segment.sizeInBytes <= 1024) }
        // Base offsets chain: each segment starts where the previous one ended.
        for (previous, next) in zip(segments, segments.dropFirst()) { #expect(previous.nextOffset == next.baseOffset) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("t-0")).filter { $0.hasSuffix(".log") }
        #expect(names.count == segments.count)
        #expect(names.contains(String(format: "%020lld.log", segments[1].baseOffset)))
        await manager.close()
    }

    @Test func rollsByAge() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let now = Mutex<Int64>(1_000_000)
        var configuration = LogManager.Configuration.small(dir.path, segmentBytes: 1 << 20)
        configuration.options.clock = { now.withLock { $0 } }
        let manager = try LogManager(configuration)
        try manager.createTopic("t", config: ["segment.ms": "60000"])
        let log = try manager.log(topic: "t", partition: 0)
        _ = try await log.append(Batches.make(count: 1))
        now.withLock { $0 += 59_000 }
        _ = try await log.append(Batches.make(count: 1))
        #expect(log.info.segments.count == 1)
        now.withLock { $0 += 2_000 }
        let rolled = try await log.append(Batches.make(count: 1))
        #expect(log.info.segments.map(\.baseOffset) == [0, 2])
        #expect(rolled.baseOffset == 2)
        await manager.close()
    }

    @Test func fullIndexRollsInsteadOfOverflowing() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        var configuration = LogManager.Configuration.small(dir.path, segmentBytes: 1 << 20)
        configuration.defaultTopicConfig.indexIntervalBytes = 0  // an entry for every batch
        configuration.defaultTopicConfig.segmentIndexBytes = 96  // 12 offset entries, 8 time entries
        let manager = try LogManager(configuration)
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        // Many batches in one drain: concurrent appenders.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<20 { _ = try await log.append(Batches.make(count: 1)) } }
            }
            try await group.waitForAll()
        }
        #expect(log.highWatermark == 160)
        #expect(log.info.segments.count > 5)
        for offset in Int64(0)..<160 {
            #expect(try Batches.records(log.read(from: offset, maxBytes: 1).records).first?.offset == offset)
        }
        await manager.close()
        // Reopening with a smaller index configuration loses nothing.
        configuration.defaultTopicConfig.segmentIndexBytes = 24
        try FileManager.default.removeItem(atPath: dir.file(".clean-shutdown"))
        let reopened = try LogManager(configuration)
        #expect(try reopened.log(topic: "t", partition: 0).highWatermark == 160)
        await reopened.close()
        #expect(try LogVerifier().verify(dataDirectory: dir.path).isHealthy)
    }

    @Test func intervalPolicyFsyncsInTheBackground() async throws {
        let fs = try FaultInjectingFileSystem.temporary()
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let manager = try LogManager(.small(fs.root, segmentBytes: 1 << 20, fileSystem: fs))
        try manager.createTopic("t", config: ["flush.policy": "interval", "flush.ms": "50"])
        let log = try manager.log(topic: "t", partition: 0)
        _ = try await log.append(Batches.make(count: 3))
        #expect(log.highWatermark == 3, "interval acknowledges and exposes after the write")
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.info.recoveryPoint == 3, "the background fsync advanced the recovery point")
        // Power loss now keeps the records: the interval fsync covered them.
        try fs.simulatePowerLoss()
        let reopened = try LogManager(.small(fs.root, segmentBytes: 1 << 20, fileSystem: fs))
        #expect(try reopened.log(topic: "t", partition: 0).highWatermark == 3)
        await reopened.close()
    }

    /// Appends a small batch until the log has `count` segments; returns the acknowledged values
    /// by offset.
    static func appendUntil(_ count: Int, segments log: Log, acked: inout [Int64: String], tag: String) async throws {
        var i = 0
        while log.info.segments.count < count {
            let batch = Batches.make(count: 2, prefix: "\(tag)\(i)", valueSize: 50)
            let result = try await log.append(batch)
            for (j, value) in try Batches.values(batch).enumerated() { acked[result.baseOffset + Int64(j)] = value }
            i += 1
        }
    }

    static func readAll(_ log: Log) throws -> [Int64: String] {
        var found: [Int64: String] = [:]
        var offset = log.logStartOffset
        while offset < log.highWatermark {
            for record in try Batches.records(try log.read(from: offset, maxBytes: 1 << 16).records) where record.offset >= offset {
                found[record.offset] = String(decoding: record.value ?? [], as: UTF8.self)
                offset = record.offset + 1
            }
        }
        return found
    }

    @Test func aRolledSegmentIsSealedBehindTheWriterAndCheckpointsWaitForIt() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 1024))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        var acked: [Int64: String] = [:]
        try await Self.appendUntil(2, segments: log, acked: &acked, tag: "a")
        log.awaitSeals()
        // Hold the seal queue: the next roll's seal waits while appends go on past it.
        let hold = DispatchSemaphore(value: 0)
        log.sealQueue.async { hold.wait() }
        try await Self.appendUntil(4, segments: log, acked: &acked, tag: "b")
        let segments = log.info.segments
        let indexSize = { (base: Int64) -> Int in
            let attributes = try? FileManager.default.attributesOfItem(atPath: dir.file("t-0/" + String(format: "%020lld.index", base)))
            return (attributes?[.size] as? Int) ?? -1
        }
        #expect(indexSize(segments[0].baseOffset) < 4096, "the first closed segment is sealed: its index cut to size")
        #expect(indexSize(segments[1].baseOffset) == 4096, "the held seal has not run: the index keeps its preallocated size")
        // Reads across the unsealed segments see every acknowledged record.
        #expect(try Self.readAll(log) == acked)
        // A checkpoint written now (as retention would) stops at the first unsealed segment,
        // although everything up to the log end is synced.
        log.writeCheckpoint(nil)
        let held = try #require(Checkpoint.read(fileSystem: PosixFileSystem(), directory: dir.file("t-0")))
        #expect(held.recoveryPoint == segments[1].baseOffset)
        #expect(log.state.withLock { $0.recoveryPoint } == log.logEndOffset)
        hold.signal()
        log.awaitSeals()
        #expect(indexSize(segments[1].baseOffset) < 4096)
        #expect(indexSize(segments[2].baseOffset) < 4096)
        let sealed = try #require(Checkpoint.read(fileSystem: PosixFileSystem(), directory: dir.file("t-0")))
        #expect(sealed.recoveryPoint >= segments[3].baseOffset)
        await manager.close()
    }

    @Test func powerLossWhileASealIsPendingLosesNothingAcknowledged() async throws {
        let fs = try FaultInjectingFileSystem.temporary()
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        var acked: [Int64: String] = [:]
        do {
            let manager = try LogManager(.small(fs.root, segmentBytes: 1024, fileSystem: fs))
            try manager.createTopic("t")
            let log = try manager.log(topic: "t", partition: 0)
            try await Self.appendUntil(2, segments: log, acked: &acked, tag: "a")
            log.awaitSeals()
            let hold = DispatchSemaphore(value: 0)
            log.sealQueue.async { hold.wait() }
            try await Self.appendUntil(4, segments: log, acked: &acked, tag: "b")
            // A checkpoint lands while the seal is held, then the power goes.
            log.writeCheckpoint(nil)
            fs.crashAfterOperations(0)
            hold.signal()
            await manager.close()
        }
        try fs.simulatePowerLoss()
        let manager = try LogManager(.small(fs.root, segmentBytes: 1024, fileSystem: fs))
        let log = try manager.log(topic: "t", partition: 0)
        #expect(try Self.readAll(log) == acked)
        // Lookups by offset go through the recovered indexes: every batch is found where it is.
        for offset in acked.keys.sorted() where offset % 2 == 0 {
            let first = try Batches.records(try log.read(from: offset, maxBytes: 1).records).first { $0.offset == offset }
            #expect(first.map { String(decoding: $0.value ?? [], as: UTF8.self) } == acked[offset])
        }
        await manager.close()
        let report = try LogVerifier(fileSystem: fs).verify(dataDirectory: fs.root)
        #expect(report.isHealthy, "\(report.problems)")
    }
}
