import ArgumentParser
import HubClient
import HubProtocol
import LogStore

/// `hooklog produce`: sends stdin lines as records to a running hub over the Kafka protocol.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce each stdin line as a record to a topic of a running hub.",
        discussion: """
            Prints "PARTITION OFFSET" on stdout for each record once the hub acknowledges it, one line per \
            input line and in input order (nothing with --acks 0). Without --partition, keyed records go to \
            partition (murmur2(key) & 0x7fffffff) % partitions, as Kafka's Java client does, and keyless \
            records go round-robin. A missing topic is created when the hub auto-creates topics. Errors are \
            printed on stderr and the exit status is non-zero.
            """
    )

    @Argument(help: "The topic.")
    var topic: String

    @OptionGroup var connection: BootstrapOptions

    @Option(help: "Key of every record.")
    var key: String?

    @Option(help: "Split each line at the first SEP into key and value (lines without SEP get --key).")
    var keySeparator: String?

    @Option(name: .customLong("header"), help: "A record header as key=value (repeatable).")
    var headers: [String] = []

    @Option(help: "Produce to this partition instead of choosing one per record.")
    var partition: Int32?

    @Option(help: "Batch compression: none or lz4.")
    var compression: String = "none"

    @Option(parsing: .unconditional, help: "Acknowledgement: 0 (none), 1 or -1 (once durable per the flush policy).")
    var acks: Int16 = -1

    @Option(help: "Most lines per produce request.")
    var batchSize: Int = 1000

    func validate() throws {
        guard compression == "none" || compression == "lz4" else {
            throw ValidationError("--compression must be none or lz4")
        }
        guard [0, 1, -1].contains(acks) else { throw ValidationError("--acks must be 0, 1 or -1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
        if let keySeparator, keySeparator.isEmpty { throw ValidationError("--key-separator must not be empty") }
        for header in headers { _ = try parseKeyValue(header, option: "--header") }
    }

    func run() async throws {
        let client: HubClient
        do {
            client = try await connection.connect()
        } catch {
            throw commandFailure("produce", error)
        }
        do {
            try await produce(client)
            await client.close()
        } catch {
            await client.close()
            throw commandFailure("produce", error)
        }
    }

    private func produce(_ client: HubClient) async throws {
        let metadata = try await client.metadata(topics: [topic], allowAutoTopicCreation: true)
        guard let description = metadata.topic(topic), description.error == .none else {
            let error = metadata.topic(topic)?.error ?? .unknownTopicOrPartition
            throw HubClientError.broker(error, "topic \(topic)", message: "it does not exist or cannot be created")
        }
        let partitions = description.partitions.count
        guard partitions > 0 else { throw HubClientError(.broker, "topic \(topic) has no partitions") }
        if let partition, Int(partition) >= partitions {
            throw HubClientError(
                .invalidArgument, "topic \(topic) has \(partitions) partitions: --partition must be below that")
        }
        let recordHeaders = try headers.map { text -> RecordHeader in
            let (key, value) = try parseKeyValue(text, option: "--header")
            return RecordHeader(key: key, value: Array(value.utf8))
        }
        let defaultKey = key.map { Array($0.utf8) }
        let separator = keySeparator.map { Array($0.utf8) }
        let codec: Compression = compression == "lz4" ? .lz4 : .none
        var roundRobin = Int.random(in: 0..<partitions)
        var reader = LineReader(descriptor: 0)
        while let lines = reader.nextLines(max: batchSize) {
            // Records of this chunk per partition, with their input positions.
            var byPartition: [Int32: [(line: Int, record: ProducerRecord)]] = [:]
            let now = HubClient.currentTimeMilliseconds()
            for (index, line) in lines.enumerated() {
                var recordKey = defaultKey
                var value = line
                if let separator, let split = Self.split(line, at: separator) { (recordKey, value) = split }
                let target: Int32
                if let partition {
                    target = partition
                } else if let recordKey {
                    target = Int32(DefaultPartitioner.partition(forKey: recordKey, partitions: partitions))
                } else {
                    target = Int32(roundRobin)
                    roundRobin = (roundRobin + 1) % partitions
                }
                byPartition[target, default: []].append(
                    (index, ProducerRecord(key: recordKey, value: value, headers: recordHeaders, timestamp: now)))
            }
            // One request per partition, all in flight at once on the connection.
            let outcomes = await withTaskGroup(of: (Int32, Result<ProduceResult, any Error>).self) { group in
                for (target, entries) in byPartition {
                    let records = entries.map(\.record)
                    group.addTask {
                        do {
                            let result = try await client.produce(
                                topic: topic, partition: target, records: records, compression: codec, acks: acks)
                            return (target, .success(result))
                        } catch {
                            return (target, .failure(error))
                        }
                    }
                }
                var outcomes: [Int32: Result<ProduceResult, any Error>] = [:]
                for await (target, outcome) in group { outcomes[target] = outcome }
                return outcomes
            }
            // Offsets in input order, up to the first record whose request failed.
            var offsets = [(partition: Int32, offset: Int64)?](repeating: nil, count: lines.count)
            var firstFailure: (line: Int, error: any Error)?
            for (target, entries) in byPartition {
                switch outcomes[target]! {
                case .success(let result):
                    for (delta, entry) in entries.enumerated() {
                        offsets[entry.line] = (target, result.baseOffset + Int64(delta))
                    }
                case .failure(let error):
                    if let first = entries.first?.line, first < (firstFailure?.line ?? .max) {
                        firstFailure = (first, error)
                    }
                }
            }
            if acks != 0 {
                var out = ""
                for slot in offsets.prefix(firstFailure?.line ?? offsets.count) {
                    guard let slot else { break }
                    out += "\(slot.partition) \(slot.offset)\n"
                }
                writeToStandardOutput(out)
            }
            if let firstFailure { throw firstFailure.error }
        }
    }

    /// Splits `line` at the first occurrence of `separator` into key and value.
    private static func split(_ line: [UInt8], at separator: [UInt8]) -> ([UInt8], [UInt8])? {
        guard line.count >= separator.count else { return nil }
        for start in 0...(line.count - separator.count)
        where line[start..<(start + separator.count)].elementsEqual(separator) {
            return (Array(line[..<start]), Array(line[(start + separator.count)...]))
        }
        return nil
    }
}
