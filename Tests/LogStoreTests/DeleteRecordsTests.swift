import Foundation
import NIOCore
import Testing

@testable import LogStore

/// DeleteRecords moves the log start offset; whole segments below it go; it survives restarts.
@Suite struct DeleteRecordsTests {
    @Test func movesTheStartAndDropsSegments() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path, segmentBytes: 512))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        for i in 0..<30 { _ = try await log.append(Batches.make(count: 2, prefix: "r\(i)", timestamp: wallClockMilliseconds())) }
        let segmentsBefore = log.info.segments.count
        #expect(try await log.deleteRecords(before: 25) == 25)
        #expect(log.logStartOffset == 25)
        #expect(log.info.segments.count < segmentsBefore)
        let below = #expect(throws: LogStoreError.self) { try log.read(from: 24, maxBytes: 100) }
        #expect(below?.code == .offsetOutOfRange)
        #expect(try Batches.records(log.read(from: 25, maxBytes: 1 << 20).records).contains { $0.offset == 25 })
        // Moving backwards is a no-op; past the high watermark is refused.
        #expect(try await log.deleteRecords(before: 3) == 25)
        await #expect(throws: LogStoreError.self) { try await log.deleteRecords(before: 61) }
        await manager.close()
        let reopened = try LogManager(.small(dir.path, segmentBytes: 512))
        #expect(try reopened.log(topic: "t", partition: 0).logStartOffset == 25)
        await reopened.close()
    }
}
