import Foundation
import NIOCore
import Testing

@testable import LogStore

/// The background cleaner: picks the dirtiest compacted log above its ratio, applies retention,
/// counts what it did, and starts and stops cleanly.
@Suite struct LogCleanerTests {
    @Test func picksTheDirtiestLogAndAppliesRetention() async throws {
        let dir = TestDirectory("log-cleaner")
        defer { dir.remove() }
        let clock = ManualClock()
        let manager = try LogManager(CompactionFixtures.configuration(dir.path, segmentBytes: 1024, clock: clock))
        try manager.createTopic("__cursors", config: ["cleanup.policy": "compact"])
        try manager.createTopic("lazy", config: ["cleanup.policy": "compact", "min.cleanable.dirty.ratio": "1"])
        try manager.createTopic("events", config: ["retention.ms": "1000"])
        for topic in ["__cursors", "lazy", "events"] {
            let log = try manager.log(topic: topic, partition: 0)
            for i in 0..<40 {
                _ = try await log.append(
                    CompactionFixtures.batch([("k\(i % 3)", "value-\(i)-" + String(repeating: "v", count: 100))], timestamp: clock.now))
            }
        }
        var configuration = LogCleaner.Configuration()
        configuration.minFreeBytes = 0
        let cleaner = LogCleaner(manager: manager, configuration: configuration)
        #expect(cleaner.dirtiestLog()?.topic == "__cursors")
        let report = try #require(await cleaner.compactDirtiestLog())
        #expect(report.topic == "__cursors" && report.passes == 1 && report.recordsRemoved > 0)
        // Clean now: below the ratio; "lazy" never qualifies at 1.0 unless wholly dirty.
        let cursors = try manager.log(topic: "__cursors", partition: 0)
        #expect(cursors.info.dirtyRatio < 0.5)
        #expect(cleaner.dirtiestLog()?.topic == "lazy")
        _ = await cleaner.compactDirtiestLog()
        #expect(cleaner.dirtiestLog() == nil)

        clock.advance(by: 60_000)
        let deleted = await cleaner.enforceRetention()
        #expect(deleted > 0)
        let metrics = cleaner.metrics
        #expect(metrics.compactionRuns == 2 && metrics.retentionRuns == 1 && metrics.segmentsDeleted == deleted)
        #expect(metrics.bytesReclaimed > 0 && metrics.bytesScanned > 0 && metrics.compactionFailures == 0)
        // The admin entry point compacts on demand, dry runs included.
        let dry = try await cleaner.compact(topic: "__cursors", dryRun: true)
        #expect(dry.count == 1 && dry[0].dryRun)
        await manager.close()
    }

    @Test func runsInTheBackgroundAndStops() async throws {
        let dir = TestDirectory("log-cleaner-background")
        defer { dir.remove() }
        let clock = ManualClock()
        let manager = try LogManager(CompactionFixtures.configuration(dir.path, segmentBytes: 1024, clock: clock))
        try manager.createTopic("__subscriptions", config: ["cleanup.policy": "compact"])
        let log = try manager.log(topic: "__subscriptions", partition: 0)
        for i in 0..<30 {
            _ = try await log.append(
                CompactionFixtures.batch([("sub-\(i % 2)", String(repeating: "s", count: 200))], timestamp: clock.now))
        }
        var configuration = LogCleaner.Configuration()
        configuration.compactionInterval = .milliseconds(20)
        configuration.retentionInterval = .milliseconds(20)
        configuration.minFreeBytes = 0
        let cleaner = LogCleaner(manager: manager, configuration: configuration)
        cleaner.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while (cleaner.metrics.compactionRuns == 0 || cleaner.metrics.retentionRuns == 0) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await cleaner.stop()
        #expect(cleaner.metrics.compactionRuns >= 1 && cleaner.metrics.retentionRuns >= 1)
        #expect(log.info.dirtyRatio < 0.5)
        await manager.close()
    }

    @Test func throttleHoldsTheRate() async throws {
        let throttle = IOThrottle(bytesPerSecond: 1 << 20)
        let start = ContinuousClock.now
        for _ in 0..<4 { throttle.consumeBlocking(100 << 10) }
        try await throttle.consume(100 << 10)
        // 500 KiB at 1 MiB/s, less the initial burst of 0.1 s: at least about 0.35 s.
        #expect(ContinuousClock.now - start >= .milliseconds(300))
    }
}
