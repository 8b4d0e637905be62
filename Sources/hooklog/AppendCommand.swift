import ArgumentParser
import LogStore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `hooklog append`: appends stdin lines to a topic of a stopped hub's data directory.
struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append each stdin line as a record to a topic in a data directory (the hub must be stopped).",
        discussion: """
            Prints the offset of each record once it is acknowledged (per the flush policy), one per line. \
            Creates the topic when missing. For a running hub, use the produce command instead.
            """
    )

    @Argument(help: "The topic.")
    var topic: String

    @OptionGroup var storage: StorageOptions

    @Option(help: "Partitions when the topic is created (default: --num-partitions).")
    var partitions: Int?

    @Option(help: "The partition to append to.")
    var partition: Int = 0

    @Option(help: "Key of every record.")
    var key: String?

    @Option(name: .customLong("header"), help: "A record header as key=value (repeatable).")
    var headers: [String] = []

    @Option(help: "Batch compression: none or lz4.")
    var compression: String = "none"

    @Option(help: "Most lines per record batch.")
    var batchSize: Int = 100

    func validate() throws {
        guard compression == "none" || compression == "lz4" else {
            throw ValidationError("--compression must be none or lz4")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        var logger = Logger(label: "hooklog")
        logger.logLevel = .warning
        let manager = try storage.openManager(logger: logger)
        if manager.metadata(of: topic) == nil {
            try manager.createTopic(topic, partitions: partitions ?? storage.numPartitions)
        }
        let log = try manager.log(topic: topic, partition: partition)
        let recordHeaders = try headers.map { text -> RecordHeader in
            guard let equals = text.firstIndex(of: "=") else {
                throw ValidationError("--header needs key=value, got '\(text)'")
            }
            return RecordHeader(key: String(text[..<equals]), value: Array(text[text.index(after: equals)...].utf8))
        }
        let keyBytes = key.map { Array($0.utf8) }
        var reader = LineReader(descriptor: 0)
        var failure: (any Error)?
        while let lines = reader.nextLines(max: batchSize) {
            var builder = RecordBatchBuilder(compression: compression == "lz4" ? .lz4 : .none)
            let now = wallClockMilliseconds()
            for line in lines { builder.append(key: keyBytes, value: line, headers: recordHeaders, timestamp: now) }
            do {
                let result = try await log.append(try builder.build())
                var out = ""
                for offset in result.baseOffset...result.lastOffset { out += "\(offset)\n" }
                writeToStandardOutput(out)
            } catch {
                failure = error
                break
            }
        }
        await manager.close()
        if let failure {
            writeToStandardError("hooklog append: \(failure)\n")
            throw ExitCode(1)
        }
    }
}

/// Reads lines from a file descriptor, returning whatever complete lines are available (up to a
/// maximum) without waiting for more once at least one is there.
struct LineReader {
    let descriptor: Int32
    private var pending: [UInt8] = []
    private var ready: [[UInt8]] = []
    private var atEnd = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func nextLines(max: Int) -> [[UInt8]]? {
        while ready.isEmpty && !atEnd { fill() }
        if ready.isEmpty { return nil }
        let count = min(max, ready.count)
        defer { ready.removeFirst(count) }
        return Array(ready[0..<count])
    }

    private mutating func fill() {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return }
        if n <= 0 {
            atEnd = true
            if !pending.isEmpty {
                ready.append(pending)
                pending = []
            }
            return
        }
        pending += chunk[0..<n]
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(pending[..<newline])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            ready.append(line)
            pending.removeFirst(newline + 1)
        }
    }
}

/// Writes all of `text` to standard output, unbuffered, so a reader sees each line at once.
func writeToStandardOutput(_ text: String) { writeAll(Array(text.utf8), to: 1) }
