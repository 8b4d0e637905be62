import ArgumentParser
import Foundation
import LogStore
import Logging
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `hooklog compact`: compacts a topic of a stopped hub's data directory, or asks a running hub
/// to (`--url`).
struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Compact a topic (cleanup.policy=compact): a stopped hub's data directory, or a running hub (--url).",
        discussion: """
            Keeps the latest record of each key at its original offset, drops tombstones older than \
            delete.retention.ms in the clean range and merges small segments. With --data-dir the hub \
            must be stopped (the data directory's lock is required); with --url the running hub compacts \
            (POST /admin/topics/{topic}/compact, admin role). Shows progress on a terminal and prints a summary.
            """
    )

    @Argument(help: "The topic.")
    var topic: String

    @Option(help: "The data directory of a stopped hub.")
    var dataDir: String = "./data"

    @Option(help: "A running hub's HTTP API base URL (e.g. http://127.0.0.1:8080): it compacts instead.")
    var url: String?

    @Option(help: "API key as ID:SECRET for --url (default: $HOOKLOG_API_KEY).")
    var apiKey: String?

    @Option(help: "Only this partition (default: every partition).")
    var partition: Int?

    @Flag(help: "Report what compaction would do without changing anything.")
    var dryRun = false

    @Option(help: "Memory for the key map of one pass, in bytes (24 bytes per key; more keys take more passes).")
    var mapBytes: Int = 256 << 20

    func validate() throws {
        if let partition, partition < 0 { throw ValidationError("--partition must be 0 or more") }
        guard mapBytes >= 24 else { throw ValidationError("--map-bytes must be at least 24") }
    }

    func run() async throws {
        if let url {
            try await compactRunningHub(at: url)
        } else {
            try await compactStoppedHub(at: dataDir)
        }
    }

    private func compactRunningHub(at url: String) async throws {
        var arguments = ["--url", url, "--timeout", "86400"]
        if let apiKey { arguments += ["--api-key", apiKey] }
        let http = try HTTPOptions.parse(arguments)
        try await withHTTP(command: "compact") {
            var query = dryRun ? "?dryRun=true" : ""
            if let partition { query += (query.isEmpty ? "?" : "&") + "partition=\(partition)" }
            if isatty(1) == 1 { writeToStandardOutput("compacting \(topic) on \(http.baseURL)…\n") }
            let (_, body) = try await http.send(.POST, "/admin/topics/\(pathComponent(topic))/compact" + query)
            struct Answer: Decodable { var partitions: [CompactionReport] }
            for report in try SubscriptionsCommand.decode(Answer.self, body).partitions {
                writeToStandardOutput(Self.summary(report))
            }
        }
    }

    private func compactStoppedHub(at path: String) async throws {
        var logger = Logger(label: "hooklog")
        logger.logLevel = .warning
        var configuration = LogManager.Configuration(dataDirectory: path)
        configuration.options.logger = logger
        configuration.options.minFreeBytes = 0
        configuration.lockWait = .milliseconds(200)
        let manager: LogManager
        do {
            manager = try LogManager(configuration)
        } catch let error as LogStoreError where error.code == .dataDirectoryLocked {
            writeToStandardError(
                "hooklog compact: \(path) is in use by a running hub or another hooklog command "
                    + "(lock \(path)/.lock is held). Stop the hub first, then run compact again.\n")
            throw ExitCode(1)
        }
        let bar = isatty(1) == 1 ? ProgressBar() : nil
        var progress: (@Sendable (CompactionProgress) -> Void)?
        if let bar { progress = { bar.show($0) } }
        let outcome: Result<[CompactionReport], any Error>
        do {
            outcome = .success(
                try await manager.compact(
                    topic: topic, partition: partition, options: CompactionOptions(mapBytes: mapBytes, dryRun: dryRun),
                    progress: progress))
        } catch {
            outcome = .failure(error)
        }
        bar?.finish()
        await manager.close()
        switch outcome {
        case .failure(let error):
            writeToStandardError("hooklog compact: \(error)\n")
            throw ExitCode(1)
        case .success(let reports):
            var out = ""
            for report in reports { out += Self.summary(report) }
            writeToStandardOutput(out)
        }
    }

    static func summary(_ report: CompactionReport) -> String {
        let seconds = Double(report.duration.components.seconds) + Double(report.duration.components.attoseconds) / 1e18
        var out = "\(report.dryRun ? "would compact" : "compacted") \(report.topic)-\(report.partition)"
        if report.passes == 0 { return out + ": nothing to clean (no closed segment past the cleaner checkpoint)\n" }
        out += ": segments \(report.segmentsBefore) → \(report.segmentsAfter), "
        out += "bytes \(bytes(report.bytesBefore)) → \(bytes(report.bytesAfter)), "
        out += "keys kept \(report.recordsKept), records removed \(report.recordsRemoved), "
        out += "tombstones dropped \(report.tombstonesDropped), "
        out += "scanned \(bytes(report.bytesScanned)), written \(bytes(report.bytesWritten)), "
        out += "\(report.passes) pass\(report.passes == 1 ? "" : "es"), " + String(format: "%.2f s", seconds)
        if !report.complete { out += " (dry run: one pass only; more keys than the map holds)" }
        return out + "\n"
    }

    static func bytes(_ count: Int64) -> String {
        if count < 1024 { return "\(count) B" }
        var value = Double(count)
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            value /= 1024
            if value < 1024 || unit == "TiB" { return String(format: "%.1f %@", value, unit) }
        }
        return "\(count) B"
    }
}

/// A one-line progress bar on standard output (only used on a terminal), redrawn at most ten
/// times a second.
final class ProgressBar: Sendable {
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    func show(_ progress: CompactionProgress) {
        let now = ContinuousClock.now
        let draw = lastDraw.withLock { last -> Bool in
            if let last, now - last < .milliseconds(100) { return false }
            last = now
            return true
        }
        guard draw else { return }
        let total = max(progress.bytesToScan, progress.bytesScanned, 1)
        let fraction = Double(progress.bytesScanned) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        writeToStandardOutput(
            "\r[\(bar)] pass \(progress.pass) \(progress.phase.rawValue): scanned \(CompactCommand.bytes(progress.bytesScanned))"
                + " / \(CompactCommand.bytes(total)), rewritten \(CompactCommand.bytes(progress.bytesWritten))\u{1B}[K")
    }

    func finish() {
        if lastDraw.withLock({ $0 != nil }) { writeToStandardOutput("\r\u{1B}[K") }
    }
}
