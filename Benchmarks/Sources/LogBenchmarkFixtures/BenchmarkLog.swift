import Foundation
import LogStore
import Logging

/// A data directory with one single-partition topic, opened for one benchmark and removed by
/// ``close()``.
public final class BenchmarkLog: Sendable {
    public let manager: LogManager
    public let log: Log
    /// The data directory (under ``BenchmarkSettings/dataRoot``).
    public let directory: String

    /// Opens a fresh data directory named after `name` with topic `bench` and `topicConfig`
    /// (Kafka-style overrides such as `flush.policy`, `segment.bytes`, `retention.bytes`).
    public init(
        name: String, topicConfig: [String: String], fileSystem: any FileSystem = PosixFileSystem(),
        settings: BenchmarkSettings = .current
    ) throws {
        let safeName = String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        let directory = "\(settings.dataRoot)/\(safeName)-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = LogManager.Configuration(dataDirectory: directory)
        configuration.fileSystem = fileSystem
        configuration.options.minFreeBytes = settings.minFreeBytes
        var logger = Logger(label: "hooklog.benchmarks")
        logger.logLevel = .warning
        configuration.options.logger = logger
        let manager = try LogManager(configuration)
        try manager.createTopic("bench", partitions: 1, config: topicConfig)
        self.manager = manager
        self.log = try manager.log(topic: "bench", partition: 0)
        self.directory = directory
    }

    /// Closes the manager and deletes the data directory.
    public func close() async {
        await manager.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Appends `count` batches (cycling through `batches`) sequentially: for building a log in
    /// a benchmark's setup.
    public func fill(appends count: Int, from batches: EventBatches) async throws {
        for i in 0..<count {
            _ = try await log.append(batches.batches[i % batches.batches.count])
        }
    }
}
