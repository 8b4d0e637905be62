import Foundation
import NIOCore
import Testing

@testable import LogStore

@Suite struct LogAppendReadTests {
    @Test func appendsAssignOffsetsAndReadBack() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("events", partitions: 2)
        let log = try manager.log(topic: "events", partition: 1)
        let first = try await log.append(Batches.make(count: 3, prefix: "a"))
        let second = try await log.append(Batches.make(count: 2, prefix: "b", compression: .lz4))
        #expect(first.baseOffset == 0 && first.lastOffset == 2)
        #expect(second.baseOffset == 3 && second.lastOffset == 4)
        #expect(log.highWatermark == 5)
        let all = try log.read(from: 0, maxBytes: 1 << 20)
        let records = try Batches.records(all.records)
        #expect(records.map(\.offset) == [0, 1, 2, 3, 4])
        #expect(try Batches.values(all.records) == ["a-0", "a-1", "a-2", "b-0", "b-1"])
        #expect(records[0].key == Array("k0".utf8))
        // Reading from the middle of a batch returns the whole batch holding it.
        let middle = try log.read(from: 4, maxBytes: 1 << 20)
        #expect(try Batches.records(middle.records).map(\.offset) == [3, 4])
        // At the high watermark: empty; past it or below the start: out of range.
        #expect(try log.read(from: 5, maxBytes: 1000).records.readableBytes == 0)
        let past = #expect(throws: LogStoreError.self) { try log.read(from: 6, maxBytes: 1000) }
        #expect(past?.code == .offsetOutOfRange)
        let below = #expect(throws: LogStoreError.self) { try log.read(from: -1, maxBytes: 1000) }
        #expect(below?.code == .offsetOutOfRange)
        await manager.close()
    }

    @Test func maxBytesGivesWholeBatchesButAtLeastOne() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 1 << 20))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        for i in 0..<5 { _ = try await log.append(Batches.make(count: 10, prefix: "p\(i)", valueSize: 100)) }
        let batchSize = Batches.make(count: 10, valueSize: 100).readableBytes
        let one = try log.read(from: 0, maxBytes: 10)
        #expect(one.records.readableBytes == batchSize)
        let two = try log.read(from: 0, maxBytes: batchSize * 2 + batchSize / 2)
        #expect(two.records.readableBytes == batchSize * 2)
        await manager.close()
    }

    @Test func indexLookupsAcrossManySegments() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 2048))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        var timestamp: Int64 = 1_000_000
        for i in 0..<200 {
            _ = try await log.append(Batches.make(count: 3, prefix: "r\(i)", timestamp: timestamp))
            timestamp += 10
        }
        #expect(log.info.segments.count > 10)
        for offset in stride(from: Int64(0), to: 600, by: 7) {
            let result = try log.read(from: offset, maxBytes: 1)
            let records = try Batches.records(result.records)
            #expect(records.contains { $0.offset == offset }, "offset \(offset)")
            let expected = "r\(offset / 3)-\(offset % 3)"
            #expect(records.first { $0.offset == offset }.map { String(decoding: $0.value!, as: UTF8.self) } == expected)
        }
        // By timestamp: batch i has timestamps 1_000_000 + 10 i + (0, 1, 2).
        let found = try #require(try log.offset(forTimestamp: 1_000_000 + 10 * 150 + 1))
        #expect(found.offset == 451 && found.timestamp == 1_001_501)
        let between = try #require(try log.offset(forTimestamp: 1_000_000 + 10 * 99 + 5))
        #expect(between.offset == 300)
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: timestamp + 100) == nil)
        // The same lookups after reopening (indexes trusted after a clean shutdown).
        await manager.close()
        let reopened = try LogManager(.small(dir.path, segmentBytes: 2048))
        #expect(reopened.openedAfterCleanShutdown)
        let again = try reopened.log(topic: "t", partition: 0)
        #expect(again.highWatermark == 600)
        #expect(try again.offset(forTimestamp: 1_000_000 + 10 * 150 + 1)?.offset == 451)
        #expect(try Batches.records(again.read(from: 599, maxBytes: 1).records).last?.offset == 599)
        let report = try LogVerifier().verify(dataDirectory: dir.path)
        #expect(report.isHealthy, "\(report.problems)")
        #expect(report.records == 600)
        await reopened.close()
    }

    @Test func waitersWakeWhenTheHighWatermarkPasses() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        let waiter = Task { await log.waitForHighWatermark(beyond: 0, timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        _ = try await log.append(Batches.make(count: 1))
        let seen = await waiter.value
        #expect(seen == 1)
        // A wait with nothing coming times out.
        let clock = ContinuousClock()
        let started = clock.now
        let hw = await log.waitForHighWatermark(beyond: 5, timeout: .milliseconds(100))
        #expect(hw == 1)
        #expect(clock.now - started >= .milliseconds(90))
        await manager.close()
    }

    @Test(arguments: ["always", "interval", "never"])
    func flushPoliciesAcknowledgeAndPersist(policy: String) async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("t", config: ["flush.policy": policy, "flush.ms": "20"])
        let log = try manager.log(topic: "t", partition: 0)
        #expect(log.config.flushPolicy.description.hasPrefix(policy))
        for _ in 0..<20 { _ = try await log.append(Batches.make(count: 5)) }
        #expect(log.highWatermark == 100)
        await manager.close()
        let reopened = try LogManager(.small(dir.path))
        #expect(try reopened.log(topic: "t", partition: 0).highWatermark == 100)
        await reopened.close()
    }

    @Test func concurrentAppendersGetDistinctContiguousOffsets() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 16384))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        let results = try await withThrowingTaskGroup(of: [AppendResult].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var mine: [AppendResult] = []
                    for i in 0..<25 { mine.append(try await log.append(Batches.make(count: 4, prefix: "w\(writer)-\(i)"))) }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let ranges = results.map { $0.baseOffset...$0.lastOffset }.sorted { $0.lowerBound < $1.lowerBound }
        #expect(ranges.count == 200)
        for (i, range) in ranges.enumerated() {
            #expect(range.lowerBound == Int64(i * 4) && range.count == 4)
        }
        #expect(log.highWatermark == 800)
        await manager.close()
    }
}

/// The writer's group-commit linger gives up after lingers that run out, and retries.
@Suite struct GroupLingerTests {
    @Test func lingeringStopsAfterMissesAndIsRetriedPeriodically() {
        let scratch = LingerPolicy()
        // Groups that form keep the writer lingering.
        for _ in 0..<10 {
            #expect(scratch.shouldLinger())
            scratch.lingerEnded(groupFormed: true)
        }
        // Misses below the limit change nothing; one formed group resets the count.
        for _ in 0..<(LingerPolicy.lingerGiveUp - 1) {
            #expect(scratch.shouldLinger())
            scratch.lingerEnded(groupFormed: false)
        }
        scratch.lingerEnded(groupFormed: true)
        for _ in 0..<LingerPolicy.lingerGiveUp {
            #expect(scratch.shouldLinger())
            scratch.lingerEnded(groupFormed: false)
        }
        // Given up: no linger until the retry, which lingers once.
        let skipped = (0..<(LingerPolicy.lingerRetryGroups - 1)).filter { _ in scratch.shouldLinger() }
        #expect(skipped.isEmpty)
        #expect(scratch.shouldLinger())
        // The retry misses: given up again at once. It forms: lingering resumes.
        scratch.lingerEnded(groupFormed: false)
        #expect(!scratch.shouldLinger())
        for _ in 0..<(LingerPolicy.lingerRetryGroups - 2) { _ = scratch.shouldLinger() }
        #expect(scratch.shouldLinger())
        scratch.lingerEnded(groupFormed: true)
        #expect(scratch.shouldLinger())
    }
}
