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
}
