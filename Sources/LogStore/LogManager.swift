import Foundation
import Logging
import Synchronization

/// Owns a data directory: its lock, the topics and their partitions' logs, and the clean-shutdown
/// marker.
///
/// Layout: `<data>/topics/<topic>.json` (``TopicMetadata``), `<data>/<topic>-<partition>/` (a
/// ``Log``), `<data>/.lock`, `<data>/.clean-shutdown` (present only while stopped cleanly).
public final class LogManager: Sendable {
    /// Everything the manager needs to open a data directory.
    public struct Configuration: Sendable {
        public var dataDirectory: String
        /// Defaults for every topic; a topic's overrides apply on top.
        public var defaultTopicConfig = LogConfig()
        /// `num.partitions`: partitions of auto-created topics.
        public var defaultPartitions = 1
        public var options = LogOptions()
        public var fileSystem: any FileSystem = PosixFileSystem()
        /// How long to wait for the data-directory lock before giving up.
        public var lockWait: Duration = .seconds(1)

        public init(dataDirectory: String) {
            self.dataDirectory = dataDirectory
        }
    }

    public let configuration: Configuration
    private let fileSystem: any FileSystem
    /// The data-directory lock, held from init until ``close()``.
    private let lock: Mutex<(any FileHandle)?>
    private let topics: Mutex<[String: Topic]>
    /// Idempotent producer ids: the next to hand out and the end of the block reserved on disk.
    private let producerIds = Mutex<(next: Int64, reservedEnd: Int64)?>(nil)
    static let producerIdsFile = "producer-ids"
    static let producerIdBlock: Int64 = 1000

    /// Topics being deleted: their names cannot be created again until the files are gone.
    private let deleting = Mutex<Set<String>>([])
    private let logger: Logger
    /// Whether the previous run stopped cleanly.
    public let openedAfterCleanShutdown: Bool

    struct Topic {
        var metadata: TopicMetadata
        var config: LogConfig
        var logs: [Log]
    }

    static let cleanShutdownMarker = ".clean-shutdown"
    static let lockName = ".lock"
    static let topicsDirectory = "topics"
    /// Prefix of partition directories renamed away by a topic deletion.
    static let deletedPrefix = ".deleted-"

    /// Opens the data directory, taking its exclusive lock, and opens (recovering if needed) every
    /// topic's logs.
    /// - Throws: `dataDirectoryLocked` when another process has it open.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        let fs = configuration.fileSystem
        self.fileSystem = fs
        self.logger = configuration.options.logger
        let root = configuration.dataDirectory
        try Self.createDirectories(root, fileSystem: fs)
        self.lock = Mutex(try Self.acquireLock(Path.join(root, Self.lockName), fileSystem: fs, wait: configuration.lockWait))
        let markerPath = Path.join(root, Self.cleanShutdownMarker)
        let clean = fs.fileExists(markerPath)
        self.openedAfterCleanShutdown = clean
        let metaDirectory = Path.join(root, Self.topicsDirectory)
        if !fs.isDirectory(metaDirectory) {
            try fs.createDirectory(metaDirectory)
            try fs.syncDirectory(root)
        }

        var topics: [String: Topic] = [:]
        let decoder = JSONDecoder()
        for name in try fs.contentsOfDirectory(metaDirectory) where name.hasPrefix(Path.temporaryPrefix) {
            try fs.removeFile(Path.join(metaDirectory, name))
        }
        for name in try fs.contentsOfDirectory(metaDirectory) where name.hasSuffix(".json") {
            let bytes = try fs.readContents(of: Path.join(metaDirectory, name))
            let metadata: TopicMetadata
            do {
                metadata = try decoder.decode(TopicMetadata.self, from: Data(bytes))
            } catch {
                throw LogStoreError(.io, "unreadable topic metadata \(metaDirectory)/\(name): \(error)")
            }
            let config = try configuration.defaultTopicConfig.applying(metadata.configOverrides)
            var logs: [Log] = []
            for partition in 0..<metadata.partitions {
                logs.append(
                    try Log.open(
                        topic: metadata.name, partition: partition,
                        directory: Path.join(root, "\(metadata.name)-\(partition)"), config: config, fileSystem: fs,
                        options: configuration.options, cleanShutdown: clean))
            }
            topics[metadata.name] = Topic(metadata: metadata, config: config, logs: logs)
        }
        // Directories renamed for deletion are leftovers of an interrupted delete. Partition-like
        // directories of unknown topics are left alone (never delete what we cannot explain).
        for name in try fs.contentsOfDirectory(root) where fs.isDirectory(Path.join(root, name)) {
            if name.hasPrefix(Self.deletedPrefix) {
                try Self.removeTree(Path.join(root, name), fileSystem: fs)
            } else if let dash = name.lastIndex(of: "-"), Int(name[name.index(after: dash)...]) != nil,
                topics[String(name[..<dash])] == nil
            {
                logger.warning(
                    "a partition directory has no topic metadata; ignoring it", metadata: ["directory": "\(name)"])
            }
        }
        try fs.syncDirectory(root)
        self.topics = Mutex(topics)
        // From here on a crash is not a clean shutdown.
        if clean {
            try fs.removeFile(markerPath)
            try fs.syncDirectory(root)
        }
    }

    /// Takes the data-directory lock, retrying briefly: a process that just exited (or a child
    /// between fork and exec, which shares the lock) may still hold it for a moment.
    private static func acquireLock(_ path: String, fileSystem: any FileSystem, wait: Duration) throws -> any FileHandle {
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        while true {
            do {
                return try fileSystem.lockFile(path)
            } catch {
                guard error.code == .dataDirectoryLocked && clock.now < deadline else { throw error }
                usleep(20_000)
            }
        }
    }

    /// mkdir -p, fsyncing each parent that gained an entry.
    private static func createDirectories(_ path: String, fileSystem: any FileSystem) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            let parent = prefix.isEmpty ? "/" : prefix
            prefix += "/" + part
            if !fileSystem.isDirectory(prefix) {
                try fileSystem.createDirectory(prefix)
                try fileSystem.syncDirectory(parent)
            }
        }
    }

    static func removeTree(_ path: String, fileSystem: any FileSystem) throws {
        for name in try fileSystem.contentsOfDirectory(path) {
            let child = Path.join(path, name)
            if fileSystem.isDirectory(child) {
                try removeTree(child, fileSystem: fileSystem)
            } else {
                try fileSystem.removeFile(child)
            }
        }
        try fileSystem.removeDirectory(path)
    }

    // MARK: - Producer ids

    /// A producer id never handed out before, in this run or an earlier one: ids are reserved on
    /// disk (crash-safely) in blocks before use.
    public func allocateProducerId() throws -> Int64 {
        try producerIds.withLock { ids in
            let path = Path.join(configuration.dataDirectory, Self.producerIdsFile)
            if ids == nil {
                var start: Int64 = 0
                if fileSystem.fileExists(path) {
                    let text = String(decoding: try fileSystem.readContents(of: path), as: UTF8.self)
                    guard let value = Int64(text.trimmingCharacters(in: "\n")) else {
                        throw LogStoreError(.io, "unreadable \(path)")
                    }
                    start = value
                }
                ids = (start, start)
            }
            if ids!.next >= ids!.reservedEnd {
                let end = ids!.next + Self.producerIdBlock
                try fileSystem.writeAtomically(Array("\(end)\n".utf8), to: path)
                ids!.reservedEnd = end
            }
            defer { ids!.next += 1 }
            return ids!.next
        }
    }

    // MARK: - Topics

    /// Creates a topic with `partitions` partitions and config overrides.
    /// - Throws: `invalidTopic`, `topicAlreadyExists`, `invalidConfig`.
    @discardableResult
    public func createTopic(
        _ name: String, partitions: Int? = nil, config overrides: [String: String] = [:]
    ) throws -> TopicMetadata {
        try TopicMetadata.validate(name: name)
        let count = partitions ?? configuration.defaultPartitions
        guard count >= 1 && count <= 10_000 else {
            throw LogStoreError(.invalidConfig, "a topic needs 1 to 10000 partitions, not \(count)")
        }
        let config = try configuration.defaultTopicConfig.applying(overrides)
        return try topics.withLock { topics in
            if topics[name] != nil {
                throw LogStoreError(.topicAlreadyExists, "topic '\(name)' already exists")
            }
            if deleting.withLock({ $0.contains(name) }) {
                throw LogStoreError(.topicAlreadyExists, "topic '\(name)' is being deleted; try again shortly")
            }
            let metadata = TopicMetadata(name: name, partitions: count, configOverrides: overrides)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            let root = configuration.dataDirectory
            // The metadata file is the commit point: partition directories without it are removed
            // on the next open, and missing partition directories are created on open.
            try fileSystem.writeAtomically(
                Array(try encoder.encode(metadata)), to: Path.join(root, Self.topicsDirectory, name + ".json"))
            var logs: [Log] = []
            for partition in 0..<count {
                logs.append(
                    try Log.open(
                        topic: name, partition: partition, directory: Path.join(root, "\(name)-\(partition)"),
                        config: config, fileSystem: fileSystem, options: configuration.options, cleanShutdown: false))
            }
            try fileSystem.syncDirectory(root)
            topics[name] = Topic(metadata: metadata, config: config, logs: logs)
            return metadata
        }
    }

    /// Deletes a topic and its data.
    /// - Throws: `unknownTopicOrPartition`.
    public func deleteTopic(_ name: String) async throws {
        let removed = topics.withLock { topics -> Topic? in
            guard let topic = topics.removeValue(forKey: name) else { return nil }
            deleting.withLock { _ = $0.insert(name) }
            return topic
        }
        guard let removed else {
            throw LogStoreError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
        }
        defer { deleting.withLock { _ = $0.remove(name) } }
        for log in removed.logs { await log.close() }
        let root = configuration.dataDirectory
        // Rename the partitions away first: after a crash, a directory with the deleted suffix
        // is removed on open, and no partition directory is ever left without its metadata.
        var renamed: [String] = []
        for log in removed.logs {
            let target = Path.join(root, Self.deletedPrefix + removed.metadata.id.uuidString + "-\(log.partition)")
            try fileSystem.rename(log.directory, to: target)
            renamed.append(target)
        }
        try fileSystem.syncDirectory(root)
        try fileSystem.removeFile(Path.join(root, Self.topicsDirectory, name + ".json"))
        try fileSystem.syncDirectory(Path.join(root, Self.topicsDirectory))
        for directory in renamed { try Self.removeTree(directory, fileSystem: fileSystem) }
        try fileSystem.syncDirectory(root)
    }

    /// The metadata of every topic, sorted by name.
    public var topicList: [TopicMetadata] {
        topics.withLock { $0.values.map(\.metadata).sorted { $0.name < $1.name } }
    }

    public func metadata(of topic: String) -> TopicMetadata? {
        topics.withLock { $0[topic]?.metadata }
    }

    /// The effective config of a topic (defaults plus overrides).
    public func config(of topic: String) -> LogConfig? {
        topics.withLock { $0[topic]?.config }
    }

    /// The log of one partition.
    /// - Throws: `unknownTopicOrPartition`.
    public func log(topic: String, partition: Int) throws(LogStoreError) -> Log {
        let log = topics.withLock { topics -> Log? in
            guard let logs = topics[topic]?.logs, partition >= 0, partition < logs.count else { return nil }
            return logs[partition]
        }
        guard let log else {
            throw LogStoreError(.unknownTopicOrPartition, "no partition \(topic)-\(partition)")
        }
        return log
    }

    /// Every open log.
    public var allLogs: [Log] {
        topics.withLock { $0.values.sorted { $0.metadata.name < $1.metadata.name }.flatMap(\.logs) }
    }

    /// Applies retention to every log; returns how many segments were deleted.
    @discardableResult
    public func enforceRetention() async -> Int {
        var deleted = 0
        for log in allLogs {
            do {
                deleted += try await log.enforceRetention()
            } catch {
                logger.warning("retention failed", metadata: ["partition": "\(log.topic)-\(log.partition)", "error": "\(error)"])
            }
        }
        return deleted
    }

    /// Compacts the partitions of a topic with `cleanup.policy=compact` (one partition, or all
    /// of them one after another). See ``Log/compact(_:progress:)``.
    /// - Throws: `unknownTopicOrPartition`, and what ``Log/compact(_:progress:)`` throws.
    public func compact(
        topic: String, partition: Int? = nil, options: CompactionOptions = CompactionOptions(),
        progress: (@Sendable (CompactionProgress) -> Void)? = nil
    ) async throws -> [CompactionReport] {
        guard let metadata = metadata(of: topic) else {
            throw LogStoreError(.unknownTopicOrPartition, "topic '\(topic)' does not exist")
        }
        let partitions = partition.map { [$0] } ?? Array(0..<metadata.partitions)
        var reports: [CompactionReport] = []
        for partition in partitions {
            reports.append(try await log(topic: topic, partition: partition).compact(options, progress: progress))
        }
        return reports
    }

    /// Closes every log and, when all closed cleanly, leaves the clean-shutdown marker so the
    /// next open skips recovery. Then releases the data-directory lock.
    public func close() async {
        let logs = allLogs
        for log in logs { await log.close() }
        defer { lock.withLock { $0 = nil } }
        guard logs.allSatisfy(\.closedCleanly) else {
            logger.warning("not all partitions closed cleanly; the next start runs recovery")
            return
        }
        do {
            let root = configuration.dataDirectory
            let marker = try fileSystem.openFile(Path.join(root, Self.cleanShutdownMarker), create: true)
            try marker.sync()
            try fileSystem.syncDirectory(root)
        } catch {
            logger.warning("cannot write the clean-shutdown marker", metadata: ["error": "\(error)"])
        }
    }
}
