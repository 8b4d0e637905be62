import Foundation
import Synchronization
import LogStore
import Testing

/// `hooklog serve` holds the data directory and stops cleanly on SIGTERM and SIGINT.
@Suite struct ServeLifecycleTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func stopsCleanlyOnSignal(signalNumber: Int32) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-serve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Some data first, so the clean stop has something to seal.
        var configuration = LogManager.Configuration(dataDirectory: dir)
        configuration.options.minFreeBytes = 0
        let seeding = try LogManager(configuration)
        try seeding.createTopic("events")
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("x".utf8), timestamp: 1)
        _ = try await seeding.log(topic: "events", partition: 0).append(try builder.build())
        await seeding.close()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: KillDuringAppendTests.binary)
        process.arguments = ["serve", "--data-dir", dir, "--min-free-bytes", "0", "--kafka-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let logged = Mutex("")
        errors.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            logged.withLock { $0 += text }
        }
        try process.run()
        // serve logs once it has opened (and locked) the data directory.
        var ready = false
        for _ in 0..<400 where !ready {
            ready = logged.withLock { $0.contains("hooklog serving") }
            if !ready { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(ready, "serve did not start: \(logged.withLock { $0 })")
        let locked = #expect(throws: LogStoreError.self) { try LogManager(configuration) }
        #expect(locked?.code == .dataDirectoryLocked)
        kill(process.processIdentifier, signalNumber)
        process.waitUntilExit()
        errors.fileHandleForReading.readabilityHandler = nil
        let rest = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        logged.withLock { $0 += rest }
        #expect(logged.withLock { $0.contains("stopped cleanly") })
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        let after = try LogManager(configuration)
        #expect(after.openedAfterCleanShutdown)
        #expect(try after.log(topic: "events", partition: 0).highWatermark == 1)
        await after.close()
    }
}
