import ArgumentParser
import Foundation
import NIOHTTP1

/// `hooklog cursors`: where each subscription stands in each partition, and moving it.
struct CursorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cursors",
        abstract: "List or reset subscription cursors (HTTP API).",
        subcommands: [List.self, Reset.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the cursor, end offset and lag of every subscription and partition.")
        @Option(help: "Only this subscription.") var subscription: String?
        @Option(help: "Only this topic's subscriptions.") var topic: String?
        @OptionGroup var http: HTTPOptions

        func run() async throws {
            try await withHTTP(command: "cursors list") {
                var ids: [String]
                if let subscription {
                    ids = [subscription]
                } else {
                    struct Page: Decodable { var subscriptions: [SubscriptionsCommand.Info] }
                    let query = topic.map { "?topic=" + pathComponent($0) } ?? ""
                    let (_, body) = try await http.send(.GET, "/subscriptions" + query)
                    ids = try SubscriptionsCommand.decode(Page.self, body).subscriptions.map(\.id)
                }
                var rows: [[String]] = []
                var all: [SubscriptionsCommand.Info] = []
                for id in ids {
                    let (_, body) = try await http.send(.GET, "/subscriptions/\(pathComponent(id))")
                    let info = try SubscriptionsCommand.decode(SubscriptionsCommand.Info.self, body)
                    all.append(info)
                    for position in info.partitions ?? [] {
                        rows.append([
                            info.id, info.topic, String(position.partition), String(position.cursor),
                            String(position.endOffset), String(position.lag),
                        ])
                    }
                }
                if http.json {
                    struct Row: Encodable {
                        var subscription: String
                        var topic: String
                        var partition: Int
                        var cursor: Int64
                        var endOffset: Int64
                        var lag: Int64
                    }
                    let list = all.flatMap { info in
                        (info.partitions ?? []).map {
                            Row(
                                subscription: info.id, topic: info.topic, partition: $0.partition, cursor: $0.cursor,
                                endOffset: $0.endOffset, lag: $0.lag)
                        }
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    writeToStandardOutput(String(decoding: try encoder.encode(["cursors": list]), as: UTF8.self) + "\n")
                    return
                }
                writeToStandardOutput(formatTable(["SUBSCRIPTION", "TOPIC", "PARTITION", "CURSOR", "END", "LAG"], rows))
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a subscription's cursors: events from there on are delivered (again).",
            discussion: "Give one of --to-offset, --to-time, --to-earliest, --to-latest; --partition limits it to one.")
        @Argument(help: "The subscription id.") var subscription: String
        @Option(help: "This offset.") var toOffset: Int64?
        @Option(help: "The first event at or after this RFC 3339 time.") var toTime: String?
        @Flag(help: "The oldest event still in the log.") var toEarliest = false
        @Flag(help: "The end of the log (skip everything not yet delivered).") var toLatest = false
        @Option(help: "Only this partition.") var partition: Int?
        @OptionGroup var http: HTTPOptions

        func validate() throws {
            guard [toOffset != nil, toTime != nil, toEarliest, toLatest].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of --to-offset, --to-time, --to-earliest, --to-latest")
            }
            if partition != nil && toTime != nil {
                throw ValidationError("--to-time moves every partition; leave out --partition")
            }
        }

        func run() async throws {
            try await withHTTP(command: "cursors reset") {
                let path = "/subscriptions/\(pathComponent(subscription))"
                let (_, current) = try await http.send(.GET, path)
                let info = try SubscriptionsCommand.decode(SubscriptionsCommand.Info.self, current)
                struct Body: Encodable {
                    var fromOffsets: [String: Int64]?
                    var fromTime: String?
                }
                var body = Body()
                if let toTime {
                    body.fromTime = toTime
                } else {
                    var offsets: [String: Int64] = [:]
                    for position in info.partitions ?? [] where partition == nil || partition == position.partition {
                        offsets[String(position.partition)] = toLatest ? position.endOffset : (toEarliest ? 0 : toOffset ?? 0)
                    }
                    guard !offsets.isEmpty else {
                        throw HTTPAPIFailure(message: "subscription \(subscription) has no partition \(partition ?? -1)")
                    }
                    body.fromOffsets = offsets
                }
                let (_, answer) = try await http.send(.POST, path + "/replay", json: body)
                if http.json { return http.printJSON(answer) }
                let updated = try SubscriptionsCommand.decode(SubscriptionsCommand.Info.self, answer)
                writeToStandardOutput(
                    formatTable(
                        ["PARTITION", "CURSOR", "END", "LAG"],
                        (updated.partitions ?? []).map {
                            [String($0.partition), String($0.cursor), String($0.endOffset), String($0.lag)]
                        }))
            }
        }
    }
}
