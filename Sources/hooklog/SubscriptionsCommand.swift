import ArgumentParser
import Foundation
import NIOHTTP1

/// `hooklog subscriptions`: manage webhook subscriptions over the HTTP API.
struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "List, create, inspect, change, delete and replay webhook subscriptions (HTTP API).",
        subcommands: [List.self, Create.self, Get.self, Update.self, Delete.self, Replay.self]
    )

    /// A subscription as the API returns it.
    struct Info: Decodable {
        struct Position: Decodable {
            var partition: Int
            var cursor: Int64
            var endOffset: Int64
            var lag: Int64
        }
        var id: String
        var topic: String
        var url: String
        var state: String
        var stateReason: String?
        var eventTypes: [String]
        var ordering: String
        var maxInFlight: Int
        var retrySchedule: [String]?
        var headers: [String: String]
        var description: String?
        var secret: String?
        var createdAt: String
        var partitions: [Position]?
        var lag: Int64?
    }

    /// Key/value lines of one subscription, then its partitions.
    static func describe(_ info: Info) -> String {
        var lines: [(String, String)] = [
            ("id", info.id), ("topic", info.topic), ("url", info.url),
            ("state", info.state + (info.stateReason.map { " (\($0))" } ?? "")),
            ("event types", info.eventTypes.isEmpty ? "all" : info.eventTypes.joined(separator: ", ")),
            ("ordering", info.ordering), ("max in flight", String(info.maxInFlight)),
            ("retry schedule", info.retrySchedule?.joined(separator: ",") ?? "server default"),
            ("created", info.createdAt),
        ]
        if let description = info.description { lines.append(("description", description)) }
        for (name, value) in info.headers.sorted(by: { $0.key < $1.key }) { lines.append(("header", "\(name): \(value)")) }
        if let secret = info.secret { lines.append(("secret", secret)) }
        if let lag = info.lag { lines.append(("lag", String(lag))) }
        let width = lines.map(\.0.count).max() ?? 0
        var text = lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n") + "\n"
        if let partitions = info.partitions, !partitions.isEmpty {
            text += "\n" + formatTable(
                ["PARTITION", "CURSOR", "END", "LAG"],
                partitions.map { [String($0.partition), String($0.cursor), String($0.endOffset), String($0.lag)] })
        }
        return text
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw HTTPAPIFailure(message: "unexpected answer from the hub: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscriptions.")
        @OptionGroup var http: HTTPOptions
        @Option(help: "Only this topic's subscriptions.") var topic: String?

        func run() async throws {
            try await withHTTP(command: "subscriptions list") {
                let query = topic.map { "?topic=" + ($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0) } ?? ""
                let (_, body) = try await http.send(.GET, "/subscriptions" + query)
                if http.json { return http.printJSON(body) }
                struct Page: Decodable { var subscriptions: [Info] }
                let page = try decode(Page.self, body)
                writeToStandardOutput(
                    formatTable(
                        ["ID", "TOPIC", "STATE", "EVENT TYPES", "URL"],
                        page.subscriptions.map {
                            [$0.id, $0.topic, $0.state, $0.eventTypes.isEmpty ? "*" : $0.eventTypes.joined(separator: ","), $0.url]
                        }))
            }
        }
    }

    /// Options shared by create and update.
    struct Settings: ParsableArguments {
        @Option(help: "Deliver only events of this ce_type (repeatable; default: all).")
        var eventType: [String] = []
        @Option(help: "none, key or strict.") var ordering: String?
        @Option(help: "Most deliveries in flight at once.") var maxInFlight: Int?
        @Option(help: "Delays between attempts, e.g. 5s,5m,30m,2h.") var retrySchedule: String?
        @Option(help: "A request header as name=value (repeatable).") var header: [String] = []
        @Option(help: "A note for humans.") var description: String?

        func headers() throws -> [String: String]? {
            guard !header.isEmpty else { return nil }
            var result: [String: String] = [:]
            for item in header {
                let (name, value) = try parseKeyValue(item, option: "--header")
                result[name] = value
            }
            return result
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Subscribe a callback URL to a topic; prints the subscription with its signing secret.")
        @Argument(help: "The topic.") var topic: String
        @Option(help: "The callback URL events are POSTed to.") var callback: String
        @Option(help: "latest, earliest, an RFC 3339 time, or partition=offset,... (default: latest).")
        var startFrom: String?
        @Option(help: "The signing secret (whsec_…; default: generated).") var secret: String?
        @OptionGroup var settings: Settings
        @OptionGroup var http: HTTPOptions

        func run() async throws {
            try await withHTTP(command: "subscriptions create") {
                struct Body: Encodable {
                    var url: String
                    var eventTypes: [String]?
                    var ordering: String?
                    var maxInFlight: Int?
                    var retrySchedule: String?
                    var startFrom: StartFrom?
                    var secret: String?
                    var headers: [String: String]?
                    var description: String?
                }
                let body = Body(
                    url: callback, eventTypes: settings.eventType.isEmpty ? nil : settings.eventType,
                    ordering: settings.ordering, maxInFlight: settings.maxInFlight, retrySchedule: settings.retrySchedule,
                    startFrom: try startFrom.map(StartFrom.init(parsing:)), secret: secret, headers: try settings.headers(),
                    description: settings.description)
                let (_, answer) = try await http.send(.POST, "/topics/\(pathComponent(topic))/subscribe", json: body)
                if http.json { return http.printJSON(answer) }
                writeToStandardOutput(describe(try decode(Info.self, answer)))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a subscription with its cursors and lag.")
        @Argument(help: "The subscription id.") var id: String
        @OptionGroup var http: HTTPOptions

        func run() async throws {
            try await withHTTP(command: "subscriptions get") {
                let (_, answer) = try await http.send(.GET, "/subscriptions/\(pathComponent(id))")
                if http.json { return http.printJSON(answer) }
                writeToStandardOutput(describe(try decode(Info.self, answer)))
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a subscription: pause, resume, callback URL, filters, limits, secret.")
        @Argument(help: "The subscription id.") var id: String
        @Flag(help: "Stop deliveries (the cursor stays).") var pause = false
        @Flag(help: "Resume deliveries.") var resume = false
        @Option(help: "A new callback URL.") var callback: String?
        @Flag(help: "Replace the signing secret with a new one (the old one signs too for 24 hours).")
        var rotateSecret = false
        @OptionGroup var settings: Settings
        @OptionGroup var http: HTTPOptions

        func validate() throws {
            if pause && resume { throw ValidationError("give --pause or --resume, not both") }
        }

        func run() async throws {
            try await withHTTP(command: "subscriptions update") {
                struct Body: Encodable {
                    var state: String?
                    var url: String?
                    var eventTypes: [String]?
                    var ordering: String?
                    var maxInFlight: Int?
                    var retrySchedule: String?
                    var headers: [String: String]?
                    var description: String?
                    var rotateSecret: Bool?
                }
                let body = Body(
                    state: pause ? "paused" : (resume ? "active" : nil), url: callback,
                    eventTypes: settings.eventType.isEmpty ? nil : settings.eventType, ordering: settings.ordering,
                    maxInFlight: settings.maxInFlight, retrySchedule: settings.retrySchedule,
                    headers: try settings.headers(), description: settings.description,
                    rotateSecret: rotateSecret ? true : nil)
                let (_, answer) = try await http.send(.PATCH, "/subscriptions/\(pathComponent(id))", json: body)
                if http.json { return http.printJSON(answer) }
                writeToStandardOutput(describe(try decode(Info.self, answer)))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a subscription and its cursors.")
        @Argument(help: "The subscription id.") var id: String
        @OptionGroup var http: HTTPOptions

        func run() async throws {
            try await withHTTP(command: "subscriptions delete") {
                _ = try await http.send(.DELETE, "/subscriptions/\(pathComponent(id))")
                if !http.json { writeToStandardOutput("deleted \(id)\n") }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a subscription's cursors back (or forward) so events are delivered again from there.")
        @Argument(help: "The subscription id.") var id: String
        @Option(help: "The same offset for every partition.") var fromOffset: Int64?
        @Option(help: "Offsets per partition as partition=offset,...") var fromOffsets: String?
        @Option(help: "The first event at or after this RFC 3339 time.") var fromTime: String?
        @OptionGroup var http: HTTPOptions

        func validate() throws {
            guard [fromOffset != nil, fromOffsets != nil, fromTime != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of --from-offset, --from-offsets, --from-time")
            }
        }

        func run() async throws {
            try await withHTTP(command: "subscriptions replay") {
                struct Body: Encodable {
                    var fromOffset: Int64?
                    var fromOffsets: [String: Int64]?
                    var fromTime: String?
                }
                let offsets = try fromOffsets.map { try StartFrom.offsets(parsing: $0, option: "--from-offsets") }
                let body = Body(
                    fromOffset: fromOffset, fromOffsets: offsets.map { Dictionary(uniqueKeysWithValues: $0.map { (String($0.key), $0.value) }) },
                    fromTime: fromTime)
                let (_, answer) = try await http.send(.POST, "/subscriptions/\(pathComponent(id))/replay", json: body)
                if http.json { return http.printJSON(answer) }
                writeToStandardOutput(describe(try decode(Info.self, answer)))
            }
        }
    }
}

/// `--start-from`: a word, a time, or `partition=offset,...`.
enum StartFrom: Encodable {
    case word(String)
    case offsets([Int: Int64])

    init(parsing text: String) throws {
        self = text.contains("=") ? .offsets(try Self.offsets(parsing: text, option: "--start-from")) : .word(text)
    }

    static func offsets(parsing text: String, option: String) throws -> [Int: Int64] {
        var offsets: [Int: Int64] = [:]
        for item in text.split(separator: ",") {
            let (key, value) = try parseKeyValue(String(item), option: option)
            guard let partition = Int(key), let offset = Int64(value) else {
                throw ValidationError("\(option) needs partition=offset pairs, got '\(item)'")
            }
            offsets[partition] = offset
        }
        return offsets
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .word(let word): try container.encode(word)
        case .offsets(let offsets):
            try container.encode(Dictionary(uniqueKeysWithValues: offsets.map { (String($0.key), $0.value) }))
        }
    }
}

/// Percent-encodes one path segment.
func pathComponent(_ text: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove("/")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
