import ArgumentParser
import Foundation
import HubClient
import HubProtocol
import NIOHTTP1

/// `hooklog topics`: lists, creates, describes and deletes topics of a running hub.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "List, create, describe or delete topics of a running hub.",
        subcommands: [List.self, Create.self, Describe.self, Delete.self]
    )

    /// `hooklog topics list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the name of every topic, one per line, sorted (internal topics are not listed).")

        @OptionGroup var connection: BootstrapOptions

        func run() async throws {
            try await withClient(connection, command: "topics list") { client in
                let metadata = try await client.metadata(topics: nil)
                let names = metadata.topics.filter { !$0.isInternal }.map(\.name).sorted()
                writeToStandardOutput(names.map { $0 + "\n" }.joined())
            }
        }
    }

    /// `hooklog topics create`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a topic.",
            discussion: "Prints the topic's name, partition count and id. Fails if the topic exists.")

        @Argument(help: "The topic name: letters, digits, '.', '_' and '-', at most 249 characters.")
        var name: String

        @OptionGroup var connection: BootstrapOptions

        @Option(help: "Partitions (default: the hub's num.partitions).")
        var partitions: Int32?

        @Option(
            name: .customLong("config"), help: "A topic setting as key=value, e.g. retention.ms=86400000 (repeatable).")
        var configs: [String] = []

        func validate() throws {
            if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1") }
            for config in configs { _ = try parseKeyValue(config, option: "--config") }
        }

        func run() async throws {
            var settings: [String: String] = [:]
            for config in configs {
                let (key, value) = try parseKeyValue(config, option: "--config")
                settings[key] = value
            }
            try await withClient(connection, command: "topics create") { client in
                let created = try await client.createTopic(name: name, partitions: partitions ?? -1, configs: settings)
                writeToStandardOutput(
                    "created topic \(created.name) with \(created.partitions) partitions, id \(created.id)\n")
            }
        }
    }

    /// `hooklog topics describe`.
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a topic's id, partitions (start and end offsets) and configuration.",
            discussion: """
                The first line has the topic, its id, partition count and the settings that differ from the \
                defaults (all settings with --all-configs); one line per partition follows, with its start and \
                end offsets. With --url (the hub's HTTP API) each partition also shows its size on disk, its \
                segment count and, for compacted topics, its dirty ratio.
                """)

        @Argument(help: "The topic.")
        var name: String

        @OptionGroup var connection: BootstrapOptions

        @Flag(help: "List every setting, not only the topic's overrides.")
        var allConfigs = false

        @Option(help: "The hub's HTTP API base URL, for sizes, segments and dirty ratios.")
        var url: String?

        @Option(help: "API key as ID:SECRET for --url (default: $HOOKLOG_API_KEY).")
        var apiKey: String?

        func run() async throws {
            try await withClient(connection, command: "topics describe") { client in
                let metadata = try await client.metadata(topics: [name])
                guard let topic = metadata.topic(name), topic.error == .none else {
                    throw HubClientError.broker(
                        metadata.topic(name)?.error ?? .unknownTopicOrPartition, "describe topic \(name)")
                }
                let configs = try await client.describeTopicConfigs(name: name)
                    .filter { allConfigs || !$0.isDefault }
                    .map { "\($0.name)=\($0.value ?? "")" }
                struct Storage: Decodable {
                    struct Partition: Decodable {
                        var partition: Int
                        var sizeBytes: Int
                        var segments: Int
                        var dirtyRatio: Double?
                    }
                    var partitions: [Partition]
                }
                var storage: [Int: Storage.Partition] = [:]
                if let url {
                    var arguments = ["--url", url]
                    if let apiKey { arguments += ["--api-key", apiKey] }
                    let http = try HTTPOptions.parse(arguments)
                    let (_, body) = try await http.send(.GET, "/topics/\(pathComponent(name))")
                    for partition in try SubscriptionsCommand.decode(Storage.self, body).partitions {
                        storage[partition.partition] = partition
                    }
                }
                var out = "Topic: \(topic.name)\tTopicId: \(topic.id)\tPartitionCount: \(topic.partitions.count)"
                out += "\tConfigs: \(configs.joined(separator: ","))\n"
                for partition in topic.partitions {
                    out += "\tTopic: \(topic.name)\tPartition: \(partition.index)\tLeader: \(partition.leader)"
                    if partition.error != .none {
                        out += "\tError: \(partition.error)\n"
                        continue
                    }
                    let start = try await client.listOffsets(topic: name, partition: partition.index, timestamp: -2)
                    let end = try await client.listOffsets(topic: name, partition: partition.index, timestamp: -1)
                    out += "\tStartOffset: \(start.offset)\tEndOffset: \(end.offset)"
                    if let detail = storage[Int(partition.index)] {
                        out += "\tSize: \(CompactCommand.bytes(Int64(detail.sizeBytes)))\tSegments: \(detail.segments)"
                        if let ratio = detail.dirtyRatio { out += String(format: "\tDirtyRatio: %.2f", ratio) }
                    }
                    out += "\n"
                }
                writeToStandardOutput(out)
            }
        }
    }

    /// `hooklog topics delete`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic and all its records.")

        @Argument(help: "The topic.")
        var name: String

        @OptionGroup var connection: BootstrapOptions

        func run() async throws {
            try await withClient(connection, command: "topics delete") { client in
                try await client.deleteTopic(name: name)
                writeToStandardOutput("deleted topic \(name)\n")
            }
        }
    }
}
