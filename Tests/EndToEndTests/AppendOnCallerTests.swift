import Dispatch
import Foundation
import HubProtocol
@testable import LogStore
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// `Log.append(callerMayWrite:)`: a lone appender on an event loop writes and syncs on that loop;
/// concurrent appenders go through the writer (and share fsyncs); offsets and contents stay
/// right either way, and a lone appender takes over again once the others are gone.
@Suite struct AppendOnCallerTests {
    /// Where each write group ran: on the test's event loop or elsewhere.
    final class Writes: Sendable {
        let onLoop = Mutex<[Bool]>([])
        let sizes = Mutex<[Int]>([])
    }

    /// - Parameter syncLimit: `callerWriteSyncLimit`; a minute by default, so that a slow fsync on
    ///   a loaded machine does not change where the appends of the first test run.
    static func open(
        _ directory: String, writes: Writes, loop: any EventLoop, syncLimit: Duration = .seconds(60)
    ) throws -> LogManager {
        var configuration = LogManager.Configuration(dataDirectory: directory)
        configuration.defaultTopicConfig.segmentBytes = 64 << 10
        configuration.defaultTopicConfig.flushPolicy = .always
        configuration.options.minFreeBytes = 0
        configuration.options.callerWriteSyncLimit = syncLimit
        configuration.options.onAppend = { appends, _ in
            writes.onLoop.withLock { $0.append(loop.inEventLoop) }
            writes.sizes.withLock { $0.append(appends) }
        }
        return try LogManager(configuration)
    }

    /// A log of one partition in a new directory, and an executor on one event loop.
    struct Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("append-on-caller-\(UUID())").path
        let executor = EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next())
        let writes = Writes()
        let manager: LogManager
        let log: Log

        init(syncLimit: Duration = .seconds(60)) throws {
            manager = try AppendOnCallerTests.open(directory, writes: writes, loop: executor.eventLoop, syncLimit: syncLimit)
            try manager.createTopic("t")
            log = try manager.log(topic: "t", partition: 0)
        }

        /// `count` appends one after another from a task on the loop, asking to write there.
        func appendOnLoop(_ tag: String, count: Int) async throws -> [Int64] {
            let log = self.log
            return try await Task(executorPreference: executor) {
                var offsets: [Int64] = []
                for i in 0..<count {
                    offsets.append(try await log.append(AppendOnCallerTests.batch(tag, i), callerMayWrite: true).baseOffset)
                }
                return offsets
            }.value
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func batch(_ tag: String, _ i: Int) -> ByteBuffer {
        var builder = RecordBatchBuilder()
        builder.append(key: Array("k".utf8), value: Array("\(tag)-\(i)".utf8), headers: [], timestamp: 1_700_000_000_000)
        return try! builder.build()
    }

    static func values(_ log: Log) throws -> [Int64: String] {
        var values: [Int64: String] = [:]
        var offset: Int64 = 0
        while offset < log.highWatermark {
            let read = try log.read(from: offset, maxBytes: 1 << 20)
            for record in try read.records.withUnsafeReadableBytes({ try RecordBatch.decodeAll($0) }) {
                values[record.offset] = String(decoding: record.value ?? [], as: UTF8.self)
                offset = record.offset + 1
            }
        }
        return values
    }

    @Test func loneAppenderOnAnEventLoopWritesThereAndOthersShareTheWriter() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let (executor, writes, manager, log) = (fixture.executor, fixture.writes, fixture.manager, fixture.log)

        // 1. One appender on the loop: every append written there, one per group, in order.
        #expect(try await fixture.appendOnLoop("lone", count: 50) == Array(0..<50))
        #expect(writes.onLoop.withLock { $0 } == Array(repeating: true, count: 50))

        // 2. The same without callerMayWrite: the writer does it.
        writes.onLoop.withLock { $0.removeAll() }
        _ = try await Task(executorPreference: executor) { try await log.append(Self.batch("plain", 0)) }.value
        #expect(writes.onLoop.withLock { $0 } == [false])

        // 3. Sixteen concurrent appenders, half on the loop asking to write there: every append
        //    lands once, each appender's in its order, and the writer groups some of them.
        writes.onLoop.withLock { $0.removeAll() }
        writes.sizes.withLock { $0.removeAll() }
        let mine = try await withThrowingTaskGroup(of: (String, [Int64]).self) { tasks in
            for appender in 0..<16 {
                let tag = "c\(appender)"
                let body: @Sendable () async throws -> (String, [Int64]) = {
                    var offsets: [Int64] = []
                    for i in 0..<40 {
                        offsets.append(try await log.append(Self.batch(tag, i), callerMayWrite: appender % 2 == 0).baseOffset)
                    }
                    return (tag, offsets)
                }
                if appender % 2 == 0 {
                    tasks.addTask(executorPreference: executor, operation: body)
                } else {
                    tasks.addTask(operation: body)
                }
            }
            var mine: [String: [Int64]] = [:]
            for try await (tag, offsets) in tasks { mine[tag] = offsets }
            return mine
        }
        let values = try Self.values(log)
        #expect(values.count == 51 + 16 * 40)
        for (tag, offsets) in mine {
            #expect(offsets == offsets.sorted())
            #expect(offsets.map { values[$0] } == (0..<40).map { "\(tag)-\($0)" })
        }
        #expect(writes.sizes.withLock { $0.max() ?? 0 } > 1)

        // 4. Alone again: once a group of one has gone through the writer (and the writer has
        //    let go, which races with the next append), appends are written on the loop.
        writes.onLoop.withLock { $0.removeAll() }
        _ = try await fixture.appendOnLoop("again", count: 20)
        #expect(writes.onLoop.withLock { $0.suffix(10) } == Array(repeating: true, count: 10))
        await manager.close()

        // Everything is there after a reopen.
        let reopened = try Self.open(fixture.directory, writes: Writes(), loop: executor.eventLoop)
        #expect(try Self.values(try reopened.log(topic: "t", partition: 0)).count == 51 + 16 * 40 + 20)
        await reopened.close()
    }

    @Test func afterASlowFsyncTheWriterTakesTheAppendsAgain() async throws {
        // Every real fdatasync is slower than a nanosecond: after the first append (no fsync
        // measured yet), the writer does the work although the caller may.
        let fixture = try Fixture(syncLimit: .nanoseconds(1))
        defer { fixture.remove() }
        #expect(try await fixture.appendOnLoop("slow", count: 10) == Array(0..<10))
        #expect(fixture.writes.onLoop.withLock { $0 } == [true] + Array(repeating: false, count: 9))
        await fixture.manager.close()
    }

    @Test func otherWriterWorkQueuedLeavesTheAppendToTheWriter() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let (executor, writes, manager, log) = (fixture.executor, fixture.writes, fixture.manager, fixture.log)
        // Writer work standing in for a retention pass or a compaction install: held until
        // released. An append asking to write on its loop must queue behind it, not block the loop.
        let release = DispatchSemaphore(value: 0)
        log.runOnWriter { release.wait() }
        let append = Task { try await fixture.appendOnLoop("held", count: 1) }
        // The loop stays free meanwhile (a blocked loop would not run this until the release).
        try await Task.sleep(for: .milliseconds(50))
        let answered = Writes()
        executor.eventLoop.execute { answered.onLoop.withLock { $0.append(true) } }
        let deadline = ContinuousClock.now + .seconds(2)
        while answered.onLoop.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(!answered.onLoop.withLock { $0.isEmpty }, "the event loop was blocked behind the writer's other work")
        release.signal()
        #expect(try await append.value == [0])
        #expect(writes.onLoop.withLock { $0 } == [false])
        await manager.close()
    }
}
