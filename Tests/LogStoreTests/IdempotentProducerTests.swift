import Foundation
import NIOCore
import Testing

@testable import LogStore

/// Sequence checking for idempotent producers: exact retries get their original offsets back,
/// gaps and stale epochs are refused, and the state survives restarts and crashes.
@Suite struct IdempotentProducerTests {
    func batch(producer: Int64, epoch: Int16, sequence: Int32, count: Int = 2, tag: String = "x") -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producer, producerEpoch: epoch, baseSequence: sequence)
        for i in 0..<count { builder.append(key: nil, value: Array("\(tag)-\(i)".utf8), timestamp: 1000) }
        return try! builder.build()
    }

    func code(_ body: () async throws -> Void) async -> LogStoreError.Code? {
        do {
            try await body()
            return nil
        } catch let error as LogStoreError {
            return error.code
        } catch {
            return .io
        }
    }

    @Test func retriesGapsAndEpochs() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        let first = try await log.append(batch(producer: 7, epoch: 0, sequence: 0))
        let second = try await log.append(batch(producer: 7, epoch: 0, sequence: 2))
        #expect(first.baseOffset == 0 && second.baseOffset == 2)
        // An exact retry of either of the last five batches: original offsets, nothing written.
        let retry = try await log.append(batch(producer: 7, epoch: 0, sequence: 0))
        #expect(retry.baseOffset == 0 && retry.lastOffset == 1)
        #expect(log.highWatermark == 4)
        // A gap.
        #expect(await code { _ = try await log.append(batch(producer: 7, epoch: 0, sequence: 9)) } == .outOfOrderSequence)
        // Another producer is independent; non-idempotent batches are never checked.
        _ = try await log.append(batch(producer: 8, epoch: 3, sequence: 0))
        _ = try await log.append(Batches.make(count: 1))
        // A new epoch must start at 0; then the old epoch is fenced.
        #expect(await code { _ = try await log.append(batch(producer: 7, epoch: 1, sequence: 4)) } == .outOfOrderSequence)
        let bumped = try await log.append(batch(producer: 7, epoch: 1, sequence: 0))
        #expect(bumped.baseOffset == 7)
        #expect(await code { _ = try await log.append(batch(producer: 7, epoch: 0, sequence: 4)) } == .invalidProducerEpoch)
        // Sequences wrap at Int32.max.
        _ = try await log.append(batch(producer: 9, epoch: 0, sequence: Int32.max - 1, count: 2))
        let wrapped = try await log.append(batch(producer: 9, epoch: 0, sequence: 0, count: 1))
        #expect(wrapped.baseOffset == 11)
        await manager.close()
    }

    @Test func onlyTheLastFiveBatchesAreRemembered() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 1 << 20))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        for i in 0..<6 { _ = try await log.append(batch(producer: 1, epoch: 0, sequence: Int32(i * 2))) }
        // Batch 0 fell out of the window: its retry is now a sequence error, not a duplicate.
        #expect(await code { _ = try await log.append(batch(producer: 1, epoch: 0, sequence: 0)) } == .outOfOrderSequence)
        let recent = try await log.append(batch(producer: 1, epoch: 0, sequence: 2))
        #expect(recent.baseOffset == 2)
        await manager.close()
    }

    @Test(arguments: [true, false])
    func stateSurvivesRestarts(clean: Bool) async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        // Small segments so that rolls write snapshots and a crash replays only the tail.
        let manager = try LogManager(.small(dir.path, segmentBytes: 300))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        var results: [AppendResult] = []
        for i in 0..<12 { results.append(try await log.append(batch(producer: 42, epoch: 2, sequence: Int32(i * 2)))) }
        #expect(log.info.segments.count > 2)
        await manager.close()
        if !clean {
            // A crash: no clean-shutdown marker, and a snapshot older than the log's end.
            try FileManager.default.removeItem(atPath: dir.file(".clean-shutdown"))
            let snapshot = dir.file("t-0/producer-state.json")
            var stale = try JSONDecoder().decode(ProducerStateSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: snapshot)))
            stale.table = stale.table.truncated(before: 6)
            stale.offset = 6
            try JSONEncoder().encode(stale).write(to: URL(fileURLWithPath: snapshot))
        }
        let reopened = try LogManager(.small(dir.path, segmentBytes: 300))
        let again = try reopened.log(topic: "t", partition: 0)
        // The last batch's retry is recognised across the restart.
        let retry = try await again.append(batch(producer: 42, epoch: 2, sequence: 22))
        #expect(retry.baseOffset == results[11].baseOffset)
        #expect(again.highWatermark == 24)
        let next = try await again.append(batch(producer: 42, epoch: 2, sequence: 24))
        #expect(next.baseOffset == 24)
        #expect(await code { _ = try await again.append(batch(producer: 42, epoch: 2, sequence: 40)) } == .outOfOrderSequence)
        await reopened.close()
    }
}
