import ArgumentParser
import Foundation
import HubClient
import HubProtocol
import LogStore

/// `hooklog consume`: prints a topic's records from a running hub and follows the log.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print the records of a topic of a running hub, following the log until --count or Ctrl-C.",
        discussion: """
            Starts at the end of each partition unless told otherwise. The default output is each value \
            followed by a newline. --format prints each record with kcat-style tokens and no implicit \
            newline: %t topic, %p partition, %o offset, %T timestamp (ms), %k key, %K key length, %v or %s \
            value, %S value length, %h headers (k=v,k=v), %% a percent sign; \\n \\t \\\\ are escapes. \
            --json prints one object per record and line (non-UTF-8 bytes as "base64:..."). Null keys and \
            values print as empty text (null in JSON).
            """
    )

    @Argument(help: "The topic.")
    var topic: String

    @OptionGroup var connection: BootstrapOptions

    @Flag(help: "Start at the first offset still in each partition.")
    var fromBeginning = false

    @Option(
        parsing: .unconditional, help: "Start at this offset in each partition (negative: that many before the end).")
    var offset: Int64?

    @Option(help: "Start at the first record at or after this time: RFC 3339 or milliseconds since the epoch.")
    var fromTime: String?

    @Option(help: "Only this partition (default: all).")
    var partition: Int32?

    @Option(help: "Stop after this many records.")
    var count: Int?

    @Flag(help: "Stop once every partition's end (as of the last fetch) is reached.")
    var exitAtEnd = false

    @Option(help: "Output format per record (see below).")
    var format: String?

    @Flag(help: "One JSON object per record.")
    var json = false

    func validate() throws {
        let starts = [fromBeginning, offset != nil, fromTime != nil].filter { $0 }.count
        guard starts <= 1 else { throw ValidationError("give at most one of --from-beginning, --offset, --from-time") }
        guard !(json && format != nil) else { throw ValidationError("give --format or --json, not both") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
        if let fromTime { _ = try Self.parseTime(fromTime) }
    }

    func run() async throws {
        let client: HubClient
        do {
            client = try await connection.connect()
        } catch {
            throw commandFailure("consume", error)
        }
        do {
            try await consume(client)
            await client.close()
        } catch {
            await client.close()
            throw commandFailure("consume", error)
        }
    }

    private func consume(_ client: HubClient) async throws {
        let metadata = try await client.metadata(topics: [topic])
        guard let description = metadata.topic(topic), description.error == .none else {
            let error = metadata.topic(topic)?.error ?? .unknownTopicOrPartition
            throw HubClientError.broker(error, "topic \(topic)", message: "check the name with `hooklog topics list`")
        }
        var partitions = description.partitions.map(\.index)
        if let partition {
            guard partitions.contains(partition) else {
                throw HubClientError(
                    .invalidArgument, "topic \(topic) has \(partitions.count) partitions: no partition \(partition)")
            }
            partitions = [partition]
        }
        var positions: [Int32: Int64] = [:]
        for partition in partitions { positions[partition] = try await startOffset(client, partition: partition) }
        let printer = try RecordPrinter(topic: topic, format: json ? nil : (format ?? "%v\\n"))
        var printed = 0
        var atEnd = Set<Int32>()
        while true {
            let results = try await client.fetch(topic: topic, offsets: positions, maxWait: .milliseconds(500))
            var out: [UInt8] = []
            for result in results {
                switch result.error {
                case .none:
                    break
                case .offsetOutOfRange where result.logStartOffset > result.fetchOffset:
                    // Retention deleted what we were about to read: go on from what is left.
                    writeToStandardError(
                        "hooklog consume: partition \(result.partition) offsets \(result.fetchOffset)..<"
                            + "\(result.logStartOffset) were deleted by retention; "
                            + "continuing at \(result.logStartOffset)\n")
                    positions[result.partition] = result.logStartOffset
                    continue
                default:
                    var context = "fetch from \(topic)-\(result.partition) at offset \(result.fetchOffset)"
                    if result.error == .offsetOutOfRange, result.highWatermark >= 0 {
                        context += " (the log holds \(result.logStartOffset)..<\(result.highWatermark))"
                    }
                    throw HubClientError.broker(result.error, context)
                }
                for record in try result.decodeRecords() {
                    if let count, printed >= count { break }
                    printer.print(record, partition: result.partition, into: &out)
                    printed += 1
                }
                positions[result.partition] = result.nextOffset
                if result.highWatermark >= 0 && result.nextOffset >= result.highWatermark {
                    atEnd.insert(result.partition)
                } else {
                    atEnd.remove(result.partition)
                }
            }
            if !out.isEmpty { writeAll(out, to: 1) }
            if let count, printed >= count { return }
            if exitAtEnd && atEnd.count == partitions.count { return }
        }
    }

    /// Where to start reading `partition`.
    private func startOffset(_ client: HubClient, partition: Int32) async throws -> Int64 {
        if fromBeginning {
            return try await client.listOffsets(topic: topic, partition: partition, timestamp: HubClient.earliest)
                .offset
        }
        if let fromTime {
            let found = try await client.listOffsets(
                topic: topic, partition: partition, timestamp: Self.parseTime(fromTime))
            if found.offset >= 0 { return found.offset }
            return try await client.listOffsets(topic: topic, partition: partition, timestamp: HubClient.latest).offset
        }
        let latest = try await client.listOffsets(topic: topic, partition: partition, timestamp: HubClient.latest)
            .offset
        guard let offset else { return latest }
        if offset >= 0 { return offset }
        let earliest = try await client.listOffsets(topic: topic, partition: partition, timestamp: HubClient.earliest)
            .offset
        return max(earliest, latest + offset)
    }

    /// Milliseconds since the epoch from digits or an RFC 3339 date-time.
    static func parseTime(_ text: String) throws -> Int64 {
        if let milliseconds = Int64(text), milliseconds >= 0 { return milliseconds }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        throw ValidationError(
            "--from-time needs RFC 3339 (2024-05-01T12:00:00Z) or milliseconds since the epoch, got '\(text)'")
    }
}

/// Renders records as text (a kcat-style format) or JSON lines.
struct RecordPrinter {
    private enum Piece {
        case literal([UInt8])
        case topic, partition, offset, timestamp, key, keyLength, value, valueLength, headers
    }

    private let topic: String
    /// nil prints JSON.
    private let pieces: [Piece]?

    /// - Parameter format: a kcat-style format, or nil for JSON lines.
    init(topic: String, format: String?) throws {
        self.topic = topic
        guard let format else {
            self.pieces = nil
            return
        }
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var characters = Array(format.utf8)[...]
        while let c = characters.popFirst() {
            if c == UInt8(ascii: "\\"), let next = characters.popFirst() {
                switch next {
                case UInt8(ascii: "n"): literal.append(10)
                case UInt8(ascii: "t"): literal.append(9)
                case UInt8(ascii: "r"): literal.append(13)
                case UInt8(ascii: "0"): literal.append(0)
                default: literal.append(next)
                }
            } else if c == UInt8(ascii: "%") {
                guard let next = characters.popFirst() else { throw ValidationError("--format ends with a lone %") }
                let piece: Piece
                switch next {
                case UInt8(ascii: "%"):
                    literal.append(next)
                    continue
                case UInt8(ascii: "t"): piece = .topic
                case UInt8(ascii: "p"): piece = .partition
                case UInt8(ascii: "o"): piece = .offset
                case UInt8(ascii: "T"): piece = .timestamp
                case UInt8(ascii: "k"): piece = .key
                case UInt8(ascii: "K"): piece = .keyLength
                case UInt8(ascii: "v"), UInt8(ascii: "s"): piece = .value
                case UInt8(ascii: "S"): piece = .valueLength
                case UInt8(ascii: "h"): piece = .headers
                default:
                    throw ValidationError("--format has the unknown token %\(Character(Unicode.Scalar(next)))")
                }
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = []
                pieces.append(piece)
            } else {
                literal.append(c)
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// Appends the rendering of `record` to `out`.
    func print(_ record: Record, partition: Int32, into out: inout [UInt8]) {
        guard let pieces else {
            out += Array(jsonLine(record, partition: partition).utf8)
            out.append(10)
            return
        }
        for piece in pieces {
            switch piece {
            case .literal(let bytes): out += bytes
            case .topic: out += Array(topic.utf8)
            case .partition: out += Array(String(partition).utf8)
            case .offset: out += Array(String(record.offset).utf8)
            case .timestamp: out += Array(String(record.timestamp).utf8)
            case .key: out += record.key ?? []
            case .keyLength: out += Array(String(record.key.map(\.count) ?? -1).utf8)
            case .value: out += record.value ?? []
            case .valueLength: out += Array(String(record.value.map(\.count) ?? -1).utf8)
            case .headers:
                for (index, header) in record.headers.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    out += Array(header.key.utf8)
                    out.append(UInt8(ascii: "="))
                    out += header.value ?? []
                }
            }
        }
    }

    private func jsonLine(_ record: Record, partition: Int32) -> String {
        let object: [String: Any] = [
            "topic": topic, "partition": Int(partition), "offset": record.offset, "timestamp": record.timestamp,
            "key": Self.jsonText(record.key), "value": Self.jsonText(record.value),
            "headers": record.headers.map { ["key": $0.key, "value": Self.jsonText($0.value)] },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// UTF-8 text, `base64:`-prefixed base64 for other bytes, NSNull for null (as `hooklog dump`).
    private static func jsonText(_ bytes: [UInt8]?) -> Any {
        guard let bytes else { return NSNull() }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return "base64:" + Data(bytes).base64EncodedString()
    }
}
