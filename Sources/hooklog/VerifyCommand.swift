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

    func run() throws {
        let report = try LogVerifier().verify(dataDirectory: dataDir, topic: topic)
        for problem in report.problems { print("PROBLEM \(problem)") }
        print(
            "verified \(report.partitions) partitions, \(report.segments) segments, \(report.batches) batches, "
                + "\(report.records) records, \(report.bytes) bytes: "
                + (report.isHealthy ? "all well" : "\(report.problems.count) problems"))
        if !report.isHealthy { throw ExitCode(1) }
    }
}
