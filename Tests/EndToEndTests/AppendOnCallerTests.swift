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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("append-on-caller-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executor = EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next())
        let writes = Writes()
        let manager = try Self.open(directory, writes: writes, loop: executor.eventLoop)
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)

        // 1. One appender on the loop: every append written there, one per group, in order.
        let lone = try await Task(executorPreference: executor) {
            var offsets: [Int64] = []
            for i in 0..<50 { offsets.append(try await log.append(Self.batch("lone", i), callerMayWrite: true).baseOffset) }
            return offsets
        }.value
        #expect(lone == Array(0..<50))
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
        _ = try await Task(executorPreference: executor) {
            for i in 0..<20 { _ = try await log.append(Self.batch("again", i), callerMayWrite: true) }
        }.value
        #expect(writes.onLoop.withLock { $0.suffix(10) } == Array(repeating: true, count: 10))
        await manager.close()

        // Everything is there after a reopen.
        let reopened = try Self.open(directory, writes: Writes(), loop: executor.eventLoop)
        #expect(try Self.values(try reopened.log(topic: "t", partition: 0)).count == 51 + 16 * 40 + 20)
        await reopened.close()
    }

    @Test func afterASlowFsyncTheWriterTakesTheAppendsAgain() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("append-on-caller-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executor = EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next())
        let writes = Writes()
        // Every real fdatasync is slower than a nanosecond: after the first append (no fsync
        // measured yet), the writer does the work although the caller may.
        let manager = try Self.open(directory, writes: writes, loop: executor.eventLoop, syncLimit: .nanoseconds(1))
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        let offsets = try await Task(executorPreference: executor) {
            var offsets: [Int64] = []
            for i in 0..<10 { offsets.append(try await log.append(Self.batch("slow", i), callerMayWrite: true).baseOffset) }
            return offsets
        }.value
        #expect(offsets == Array(0..<10))
        #expect(writes.onLoop.withLock { $0 } == [true] + Array(repeating: false, count: 9))
        await manager.close()
    }

    @Test func otherWriterWorkQueuedLeavesTheAppendToTheWriter() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("append-on-caller-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executor = EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next())
        let writes = Writes()
        let manager = try Self.open(directory, writes: writes, loop: executor.eventLoop)
        try manager.createTopic("t")
        let log = try manager.log(topic: "t", partition: 0)
        // Writer work standing in for a retention pass or a compaction install: held until
        // released. An append asking to write on its loop must queue behind it, not block the loop.
        let release = DispatchSemaphore(value: 0)
        log.runOnWriter { release.wait() }
        let append = Task(executorPreference: executor) {
            try await log.append(Self.batch("held", 0), callerMayWrite: true).baseOffset
        }
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
        #expect(try await append.value == 0)
        #expect(writes.onLoop.withLock { $0 } == [false])
        await manager.close()
    }
}
