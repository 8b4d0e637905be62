import ArgumentParser
import Foundation
import HubClient
import HubProtocol

/// `hooklog groups`: consumer groups of a running hub, with committed offsets and lag.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List consumer groups, or describe one: members, committed offsets, high watermarks and lag.",
        subcommands: [List.self, Describe.self]
    )

    /// `hooklog groups list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each group id and its state.")
        @OptionGroup var connection: BootstrapOptions

        func run() async throws {
            try await withClient(connection, command: "groups list") { client in
                let groups = try await client.listGroups()
                writeToStandardOutput(groups.map { "\($0.id)\t\($0.state)\n" }.joined())
            }
        }
    }

    /// `hooklog groups describe GROUP`.
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group's state and members, and per partition its committed offset, high watermark and lag.")
        @Argument(help: "The group id.") var group: String
        @OptionGroup var connection: BootstrapOptions

        func run() async throws {
            try await withClient(connection, command: "groups describe") { client in
                var out = ""
                if let summary = try await client.describeGroups([group]).first {
                    out += "group \(summary.id)  state \(summary.state)"
                    if !summary.protocolName.isEmpty { out += "  assignor \(summary.protocolName)" }
                    out += "  members \(summary.members.count)\n"
                    for member in summary.members {
                        out += "  member \(member.memberId)  client \(member.clientId)  host \(member.clientHost)\n"
                    }
                }
                let committed = try await client.committedOffsets(group: group)
                let rows = try await committed.asyncMap { entry -> [String] in
                    let end = try await client.listOffsets(
                        topic: entry.topic, partition: entry.partition, timestamp: HubClient.latest)
                    let lag = entry.offset >= 0 ? String(max(0, end.offset - entry.offset)) : "-"
                    return [entry.topic, String(entry.partition), entry.offset >= 0 ? String(entry.offset) : "-", String(end.offset), lag]
                }
                out += table(["TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"], rows)
                writeToStandardOutput(out)
            }
        }
    }
}

/// A left-aligned text table.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { $0.element.padding(toLength: widths[$0.offset] + 2, withPad: " ", startingAt: 0) }
            .joined().trimmingCharacters(in: .whitespaces) + "\n"
    }.joined()
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
