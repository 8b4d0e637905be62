import ArgumentParser
import LogStore
import Logging

/// Options shared by the commands that open a data directory.
struct StorageOptions: ParsableArguments {
    @Option(help: "The data directory.")
    var dataDir: String = "./data"

    @Option(help: "Default flush policy for topics: always, interval or never.")
    var flush: String = "always"

    @Option(help: "fsync period in milliseconds when --flush interval.")
    var flushMs: Int64 = 1000

    @Option(help: "Partitions of topics created without a count (num.partitions).")
    var numPartitions: Int = 1

    @Option(help: "Refuse appends while the data directory's file system has fewer free bytes than this.")
    var minFreeBytes: Int64 = 64 << 20

    func openManager(logger: Logger) throws -> LogManager {
        try LogManager(managerConfiguration(logger: logger))
    }

    func managerConfiguration(logger: Logger) throws -> LogManager.Configuration {
        var configuration = LogManager.Configuration(dataDirectory: dataDir)
        configuration.defaultTopicConfig = try configuration.defaultTopicConfig.applying([
            "flush.policy": flush, "flush.ms": String(flushMs),
        ])
        configuration.defaultPartitions = numPartitions
        configuration.options.minFreeBytes = minFreeBytes
        configuration.options.logger = logger
        return configuration
    }
}
