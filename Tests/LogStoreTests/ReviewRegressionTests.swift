import Foundation
import NIOCore
import Testing

@testable import LogStore

/// Regressions found in review: timestamp overflow, lost wait timeouts, topic deletion safety.
@Suite struct ReviewRegressionTests {
    @Test func timestampsThatOverflowAreRefusedNotTrapped() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: Array("k".utf8), value: [1], timestamp: Int64.max - 5)
        builder.append(key: Array("k".utf8), value: [2], timestamp: Int64.max - 1)
        var bytes = Array(try builder.build().readableBytesView)
        // Rewrite the base timestamp so that base + delta overflows, and fix the CRC.
        withUnsafeBytes(of: (Int64.max - 2).bigEndian) { bytes.replaceSubrange(27..<35, with: $0) }
        let crc = bytes.withUnsafeBytes { RecordBatchHeader.computeCRC(of: $0) }
        withUnsafeBytes(of: crc.bigEndian) { bytes.replaceSubrange(17..<21, with: $0) }
        let validator = AppendValidator(maxMessageBytes: 1 << 20, requireKeys: false)
        var batches: [AppendValidator.Batch] = []
        let error = #expect(throws: LogStoreError.self) {
            try bytes.withUnsafeBytes { try validator.validate($0, into: &batches) }
        }
        #expect(error?.code == .corruptMessage)
        // Tools decoding such bytes do not trap either.
        _ = try bytes.withUnsafeBytes { try RecordBatch.decode($0) }
    }

    @Test func tinyWaitTimeoutsAlwaysReturn() async throws {
        let waiters = HighWatermarkWaiters(highWatermark: 0)
        let clock = ContinuousClock()
        let started = clock.now
        // A lost timeout would hang forever; closing the waiters after 10 s unblocks the test so
        // that it fails instead.
        let rescue = Task {
            try await Task.sleep(for: .seconds(10))
            waiters.close()
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask { await waiters.wait(beyond: 10, timeout: .microseconds(5)) }
            }
        }
        rescue.cancel()
        #expect(clock.now - started < .seconds(9))
    }

    @Test func deletedTopicsLeaveNothingAndUnknownDirectoriesAreKept() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("gone", partitions: 2)
        _ = try await manager.log(topic: "gone", partition: 0).append(Batches.make(count: 2))
        try await manager.deleteTopic("gone")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.hasPrefix("gone") || $0.hasPrefix(".deleted")
        }
        #expect(left.isEmpty, "\(left)")
        // The same name can be created again, empty.
        try manager.createTopic("gone")
        #expect(try manager.log(topic: "gone", partition: 0).highWatermark == 0)
        await manager.close()
        // A leftover of an interrupted delete goes; an unexplained directory stays.
        try FileManager.default.createDirectory(atPath: dir.file(".deleted-X-0"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("mine-7"), withIntermediateDirectories: true)
        let reopened = try LogManager(.small(dir.path))
        #expect(!FileManager.default.fileExists(atPath: dir.file(".deleted-X-0")))
        #expect(FileManager.default.fileExists(atPath: dir.file("mine-7")))
        await reopened.close()
    }
}
