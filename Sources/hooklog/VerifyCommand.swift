import ArgumentParser
import LogStore

/// `hooklog verify`: CRC and index checks of every segment.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every segment's batches (framing, CRC, records, offsets) and indexes.",
        discussion: "Exits 0 only when everything is well; otherwise lists each problem with file and byte position."
    )

    @Option(help: "The data directory.")
    var dataDir: String = "./data"

    @Option(help: "Only this topic.")
    var topic: String?

    @Flag(
        help: """
            Repair first (the hub must be stopped): truncate each partition at its first bad batch, \
            rebuild indexes that do not match their log, finish an interrupted compaction, and report \
            what was dropped.
            """)
    var repair = false

    func run() throws {
        if repair {
            let repaired: LogVerifier.RepairReport
            do {
                repaired = try LogVerifier().repair(dataDirectory: dataDir, topic: topic)
            } catch let error as LogStoreError where error.code == .dataDirectoryLocked {
                writeToStandardError(
                    "hooklog verify: \(dataDir) is in use by a running hub or another hooklog command; "
                        + "stop it before --repair\n")
                throw ExitCode(1)
            }
            for truncation in repaired.truncations { print("REPAIRED \(truncation)") }
            for path in repaired.indexesRebuilt { print("REBUILT indexes of \(path)") }
            for path in repaired.swapsFinished { print("FINISHED an interrupted compaction in \(path)") }
            if !repaired.changedAnything { print("repair: nothing to repair") }
        }
        let report = try LogVerifier().verify(dataDirectory: dataDir, topic: topic)
        for problem in report.problems { print("PROBLEM \(problem)") }
        print(
            "verified \(report.partitions) partitions, \(report.segments) segments, \(report.batches) batches, "
                + "\(report.records) records, \(report.bytes) bytes: "
                + (report.isHealthy ? "all well" : "\(report.problems.count) problems"))
        if !report.isHealthy { throw ExitCode(1) }
    }
}
