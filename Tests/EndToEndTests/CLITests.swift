import Foundation
import HubClient
import HubProtocol
import HubServer
import LogStore
import Synchronization
import Testing

/// The real `hooklog` binary's produce, consume and topics commands against an in-process hub.
@Suite struct CLITests {
    /// What a finished command left behind.
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    /// Runs `hooklog arguments...` with `input` on stdin; kills it after `timeout`.
    static func hooklog(_ arguments: [String], input: String = "", timeout: Duration = .seconds(60)) async throws
        -> Outcome
    {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hooklog-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (stdin, stdout, stderr) = (
            scratch.appendingPathComponent("in"), scratch.appendingPathComponent("out"),
            scratch.appendingPathComponent("err")
        )
        try Data(input.utf8).write(to: stdin)
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: KillDuringAppendTests.binary)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: stdin)
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                process.waitUntilExit()
                Issue.record("hooklog \(arguments.joined(separator: " ")) did not finish within \(timeout)")
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: stdout), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: stderr), as: UTF8.self))
    }

    @Test func producedLinesConsumeBack() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: KillDuringAppendTests.binary), "build hooklog first")
        try await TestHub.with { hub in
            let created = try await Self.hooklog([
                "topics", "create", "lines", "--partitions", "3", "--bootstrap", hub.bootstrap,
            ])
            #expect(created.status == 0, "\(created.stderr)")
            let input = (0..<20).map { "line \($0)" }.joined(separator: "\n") + "\n"
            let produced = try await Self.hooklog(
                ["produce", "lines", "--header", "ce_type=demo", "--header", "n=1", "--bootstrap", hub.bootstrap],
                input: input)
            #expect(produced.status == 0, "\(produced.stderr)")
            let placed = produced.lines.map { $0.split(separator: " ").map { Int($0)! } }
            #expect(placed.count == 20)
            // Keyless records go round-robin: 6 or 7 per partition, offsets contiguous per partition.
            let perPartition = Dictionary(grouping: placed, by: { $0[0] })
            #expect(perPartition.keys.sorted() == [0, 1, 2])
            for (_, entries) in perPartition {
                #expect((6...7).contains(entries.count))
                #expect(entries.map { $0[1] } == Array(0..<entries.count))
            }
            let consumed = try await Self.hooklog(
                [
                    "consume", "lines", "--from-beginning", "--count", "20", "--format", "%p %o %v|%h|%k|%K\\n",
                    "--bootstrap", hub.bootstrap,
                ])
            #expect(consumed.status == 0, "\(consumed.stderr)")
            var expected: [String] = []
            for (index, position) in placed.enumerated() {
                expected.append("\(position[0]) \(position[1]) line \(index)|ce_type=demo,n=1||-1")
            }
            #expect(consumed.lines.sorted() == expected.sorted())
            // The default format is the value per line; --exit-at-end stops at the end.
            let values = try await Self.hooklog(
                [
                    "consume", "lines", "--partition", "0", "--from-beginning", "--exit-at-end", "--bootstrap",
                    hub.bootstrap,
                ])
            #expect(values.status == 0)
            #expect(values.lines == placed.enumerated().filter { $0.element[0] == 0 }.map { "line \($0.offset)" })
        }
    }

    @Test func keyedRecordsFollowKafkasDefaultPartitioner() async throws {
        try await TestHub.with { hub in
            _ = try await Self.hooklog(["topics", "create", "keyed", "--partitions", "7", "--bootstrap", hub.bootstrap])
            // murmur2("21") = -973932308 in Kafka's UtilsTest: partition (1173551340 % 7) = 3.
            let single = try await Self.hooklog(
                ["produce", "keyed", "--key", "21", "--bootstrap", hub.bootstrap], input: "a\nb\n")
            #expect(single.lines == ["3 0", "3 1"], "\(single.stderr)")
            let keys = (0..<50).map { "user-\($0)" }
            let input = keys.map { "\($0):value of \($0)" }.joined(separator: "\n")
            let produced = try await Self.hooklog(
                ["produce", "keyed", "--key-separator", ":", "--compression", "lz4", "--bootstrap", hub.bootstrap],
                input: input)
            #expect(produced.status == 0, "\(produced.stderr)")
            let partitions = produced.lines.map { Int($0.split(separator: " ")[0])! }
            #expect(partitions == keys.map { DefaultPartitioner.partition(forKey: Array($0.utf8), partitions: 7) })
            #expect(Set(partitions).count > 3)
            let consumed = try await Self.hooklog(
                [
                    "consume", "keyed", "--from-beginning", "--exit-at-end", "--format", "%k=%v@%p\\n", "--bootstrap",
                    hub.bootstrap,
                ])
            let expected = zip(keys, partitions).map { "\($0)=value of \($0)@\($1)" } + ["21=a@3", "21=b@3"]
            #expect(consumed.lines.sorted() == expected.sorted())
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/kcat"), "needs kcat"))
    func partitioningMatchesLibrdkafkasMurmur2() async throws {
        try await TestHub.with { hub in
            _ = try await Self.hooklog([
                "topics", "create", "bykcat", "--partitions", "5", "--bootstrap", hub.bootstrap,
            ])
            _ = try await Self.hooklog([
                "topics", "create", "byhooklog", "--partitions", "5", "--bootstrap", hub.bootstrap,
            ])
            let input = (0..<40).map { "k\($0 * 37):v\($0)" }.joined(separator: "\n") + "\n"
            let kcat = Process()
            kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
            kcat.arguments = [
                "-P", "-b", hub.bootstrap, "-t", "bykcat", "-K:", "-X", "topic.partitioner=murmur2_random",
            ]
            let pipe = Pipe()
            kcat.standardInput = pipe
            kcat.standardError = FileHandle.nullDevice
            try kcat.run()
            try pipe.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try pipe.fileHandleForWriting.close()
            kcat.waitUntilExit()
            #expect(kcat.terminationStatus == 0)
            let ours = try await Self.hooklog(
                ["produce", "byhooklog", "--key-separator", ":", "--bootstrap", hub.bootstrap], input: input)
            #expect(ours.status == 0)
            let format = ["--from-beginning", "--count", "40", "--format", "%k %p\\n", "--bootstrap", hub.bootstrap]
            let theirs = try await Self.hooklog(["consume", "bykcat"] + format)
            let mine = try await Self.hooklog(["consume", "byhooklog"] + format)
            #expect(theirs.lines.count == 40)
            #expect(mine.lines.sorted() == theirs.lines.sorted())
        }
    }

    @Test func topicsCommands() async throws {
        try await TestHub.with { hub in
            let b = ["--bootstrap", hub.bootstrap]
            let created = try await Self.hooklog(
                ["topics", "create", "alpha", "--partitions", "2", "--config", "retention.ms=60000"] + b)
            #expect(created.status == 0)
            #expect(created.stdout.hasPrefix("created topic alpha with 2 partitions, id "))
            _ = try await Self.hooklog(["topics", "create", "beta"] + b)
            #expect(try await Self.hooklog(["topics", "list"] + b).lines == ["alpha", "beta"])

            let described = try await Self.hooklog(["topics", "describe", "alpha"] + b)
            #expect(described.status == 0)
            let header = try #require(described.lines.first)
            #expect(header.hasPrefix("Topic: alpha\tTopicId: "))
            #expect(header.hasSuffix("PartitionCount: 2\tConfigs: retention.ms=60000"))
            #expect(
                described.lines.dropFirst() == [
                    "\tTopic: alpha\tPartition: 0\tLeader: 0\tStartOffset: 0\tEndOffset: 0",
                    "\tTopic: alpha\tPartition: 1\tLeader: 0\tStartOffset: 0\tEndOffset: 0",
                ])
            let all = try await Self.hooklog(["topics", "describe", "alpha", "--all-configs"] + b)
            #expect(all.lines.first?.contains("max.message.bytes=") == true)

            let duplicate = try await Self.hooklog(["topics", "create", "alpha"] + b)
            #expect(duplicate.status != 0)
            #expect(duplicate.stderr.contains("TOPIC_ALREADY_EXISTS"))
            #expect(duplicate.stdout.isEmpty)

            let deleted = try await Self.hooklog(["topics", "delete", "alpha"] + b)
            #expect(deleted.status == 0 && deleted.stdout == "deleted topic alpha\n")
            #expect(try await Self.hooklog(["topics", "list"] + b).lines == ["beta"])
            let missing = try await Self.hooklog(["topics", "delete", "alpha"] + b)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"))
            let describeMissing = try await Self.hooklog(["topics", "describe", "alpha"] + b)
            #expect(describeMissing.status != 0)
        }
    }

    @Test func consumeStartsWhereAsked() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "history", partitions: 1)
            for (index, time) in [Int64(1_700_000_000_000), 1_700_000_060_000, 1_700_000_120_000].enumerated() {
                _ = try await client.produce(
                    topic: "history", partition: 0,
                    records: [ProducerRecord(key: "k\(index)", value: "v\(index)", timestamp: time)])
            }
            let b = ["--bootstrap", hub.bootstrap, "--exit-at-end"]
            #expect(try await Self.hooklog(["consume", "history", "--offset", "1"] + b).lines == ["v1", "v2"])
            #expect(try await Self.hooklog(["consume", "history", "--offset", "-1"] + b).lines == ["v2"])
            // 1_700_000_060_000 ms is 2023-11-14T22:14:20Z.
            #expect(
                try await Self.hooklog(["consume", "history", "--from-time", "2023-11-14T22:14:20Z"] + b).lines == [
                    "v1", "v2",
                ])
            #expect(try await Self.hooklog(["consume", "history", "--from-time", "1700000060001"] + b).lines == ["v2"])
            #expect(
                try await Self.hooklog(["consume", "history", "--from-time", "2030-01-01T00:00:00.5+01:00"] + b).lines
                    == [])
            let json = try await Self.hooklog(["consume", "history", "--from-beginning", "--json", "--count", "1"] + b)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(object["topic"] as? String == "history")
            #expect(object["offset"] as? Int == 0)
            #expect(object["key"] as? String == "k0")
            #expect(object["value"] as? String == "v0")
            #expect(object["timestamp"] as? Int == 1_700_000_000_000)
            let beyond = try await Self.hooklog(["consume", "history", "--offset", "10"] + b)
            #expect(beyond.status != 0)
            #expect(beyond.stderr.contains("OFFSET_OUT_OF_RANGE"))
            await client.close()
        }
    }

    @Test func consumeFollowsTheLog() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "live", partitions: 2)
            let finished = Mutex(false)
            let consumer = Task {
                defer { finished.withLock { $0 = true } }
                return try await Self.hooklog(
                    ["consume", "live", "--count", "3", "--bootstrap", hub.bootstrap], timeout: .seconds(30))
            }
            // The consumer starts at the end of the log, whenever it gets there: keep producing
            // until it has printed three records.
            var produced: [String] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while !finished.withLock({ $0 }) && ContinuousClock.now < deadline {
                let value = "event-\(produced.count)"
                _ = try await client.produce(
                    topic: "live", partition: Int32(produced.count % 2), records: [ProducerRecord(value: value)])
                produced.append(value)
                try await Task.sleep(for: .milliseconds(100))
            }
            let outcome = try await consumer.value
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.lines.count == 3)
            #expect(Set(outcome.lines).isSubset(of: produced))
            await client.close()
        }
    }

    @Test func produceErrorsGoToStderr() async throws {
        try await TestHub.with({ $0.autoCreateTopics = false }) { hub in
            let b = ["--bootstrap", hub.bootstrap]
            let unknown = try await Self.hooklog(["produce", "nothing"] + b, input: "x\n")
            #expect(unknown.status != 0)
            #expect(unknown.stdout.isEmpty)
            #expect(unknown.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"))
            _ = try await Self.hooklog(["topics", "create", "small", "--config", "max.message.bytes=200"] + b)
            let badPartition = try await Self.hooklog(["produce", "small", "--partition", "4"] + b, input: "x\n")
            #expect(badPartition.status != 0 && badPartition.stderr.contains("--partition"))
            let tooLarge = try await Self.hooklog(
                ["produce", "small", "--batch-size", "1"] + b,
                input: "ok\n" + String(repeating: "z", count: 500) + "\nlater\n")
            #expect(tooLarge.status != 0)
            #expect(tooLarge.lines == ["0 0"])
            #expect(tooLarge.stderr.contains("MESSAGE_TOO_LARGE"))
            let acksZero = try await Self.hooklog(["produce", "small", "--acks", "0"] + b, input: "quiet\n")
            #expect(acksZero.status == 0 && acksZero.stdout.isEmpty)
            let refused = try await Self.hooklog(["topics", "list", "--bootstrap", "127.0.0.1:1"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("cannot connect to 127.0.0.1:1"))
            let usage = try await Self.hooklog(["produce", "small", "--acks", "2"] + b)
            #expect(usage.status != 0)
        }
    }
}
