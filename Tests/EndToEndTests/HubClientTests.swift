import Foundation
import HubClient
import HubProtocol
import HubServer
import LogStore
import NIOCore
import Testing

/// HubClient against a real in-process hub (and a scripted broker where a real one cannot show
/// the behavior).
@Suite struct HubClientTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func negotiatesTheHighestCommonVersions() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            for (key, ours) in HubClient.supportedVersions {
                let theirs = try #require(client.brokerVersions[key], "the hub does not advertise API \(key)")
                #expect(client.negotiatedVersions[key] == min(ours.upperBound, theirs.upperBound))
            }
            #expect(client.negotiatedVersions[ProduceRequest.apiKey]! >= 9)
            #expect(client.negotiatedVersions[FetchRequest.apiKey]! >= 12)
            await client.close()
        }
    }

    @Test func fallsBackToApiVersionsV0() async throws {
        let broker = try await FakeBroker.start(.apiVersionsV0Only)
        let client = try await HubClient.connect(host: "127.0.0.1", port: broker.port)
        #expect(client.brokerVersions[ApiVersionsRequest.apiKey] == 0...0)
        #expect(client.negotiatedVersions[MetadataRequest.apiKey] == 12)
        let metadata = try await client.metadata(topics: ["x"])
        #expect(metadata.brokers.first?.nodeId == 7)
        #expect(metadata.topic("x") != nil)
        // The fake broker has no Produce: a clear error, not a broken connection.
        let error = await #expect(throws: HubClientError.self) {
            try await client.produce(topic: "x", partition: 0, records: [ProducerRecord(value: "v")])
        }
        #expect(error?.code == .unsupportedVersion)
        await client.close()
        await broker.stop()
    }

    @Test func matchesResponsesByCorrelationId() async throws {
        let broker = try await FakeBroker.start(.reversePairs)
        let client = try await HubClient.connect(host: "127.0.0.1", port: broker.port)
        async let first = client.metadata(topics: ["first"])
        try await Task.sleep(for: .milliseconds(50))
        async let second = client.metadata(topics: ["second"])
        let (a, b) = try await (first, second)
        #expect(a.topics.map(\.name) == ["first"])
        #expect(b.topics.map(\.name) == ["second"])
        await client.close()
        await broker.stop()
    }

    @Test func requestTimeoutFailsTheRequest() async throws {
        let broker = try await FakeBroker.start(.silent)
        var configuration = HubClient.Configuration()
        configuration.requestTimeout = .milliseconds(200)
        let client = try await HubClient.connect(host: "127.0.0.1", port: broker.port, configuration: configuration)
        let started = ContinuousClock.now
        let error = await #expect(throws: HubClientError.self) { try await client.metadata(topics: ["t"]) }
        #expect(error?.code == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(5))
        await client.close()
        await broker.stop()
    }

    @Test func producerTasksStayOnTheConnectionsEventLoop() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "loop", partitions: 1)
            let executor = try #require(client.taskExecutor as? EventLoopTaskExecutor)
            // Four producers pipelining on one connection, all on its event loop: every resume
            // (after each response) is on the loop's thread, and every record lands once.
            let offsets = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for producer in 0..<4 {
                    group.addTask(executorPreference: client.taskExecutor) {
                        var offsets: [Int64] = []
                        for n in 0..<25 {
                            #expect(executor.eventLoop.inEventLoop)
                            let result = try await client.produce(
                                topic: "loop", partition: 0, records: [ProducerRecord(value: "\(producer)-\(n)")])
                            #expect(executor.eventLoop.inEventLoop)
                            offsets.append(result.baseOffset)
                        }
                        return offsets
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(offsets.sorted() == Array(0..<100))
            await client.close()
        }
    }

    @Test func connectFailsClearly() async throws {
        let error = await #expect(throws: HubClientError.self) {
            try await HubClient.connect(host: "127.0.0.1", port: 1)
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }

    @Test func callsAfterCloseFail() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            await client.close()
            let error = await #expect(throws: HubClientError.self) { try await client.metadata() }
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func metadataDescribesBrokerAndTopics() async throws {
        try await TestHub.with(partitions: 2) { hub in
            let client = try await hub.connect()
            let created = try await client.createTopic(name: "orders", partitions: 3)
            let metadata = try await client.metadata()
            #expect(metadata.brokers.count == 1)
            #expect(metadata.brokers.first?.port == hub.port)
            let orders = try #require(metadata.topic("orders"))
            #expect(orders.error == .none)
            #expect(orders.partitions.map(\.index) == [0, 1, 2])
            #expect(orders.id == created.id && orders.id != .zero)
            // Unknown topics are reported, and created only when allowed.
            let unknown = try await client.metadata(topics: ["missing"])
            #expect(unknown.topic("missing")?.error == .unknownTopicOrPartition)
            let auto = try await client.metadata(topics: ["missing"], allowAutoTopicCreation: true)
            #expect(auto.topic("missing")?.error == ErrorCode.none)
            #expect(auto.topic("missing")?.partitions.count == 2)
            await client.close()
        }
    }

    @Test(arguments: [Compression.none, Compression.lz4])
    func producedRecordsComeBackIntact(compression: Compression) async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "events", partitions: 2)
            let records = [
                ProducerRecord(
                    key: bytes("k1"), value: bytes("first"), headers: [RecordHeader(key: "ce_type", value: bytes("a"))],
                    timestamp: 1_700_000_000_000),
                ProducerRecord(
                    key: nil, value: bytes(String(repeating: "x", count: 5000)), timestamp: 1_700_000_000_001),
                ProducerRecord(
                    key: bytes("k3"), value: nil,
                    headers: [RecordHeader(key: "h", value: nil), RecordHeader(key: "h2", value: [0, 255])],
                    timestamp: 1_700_000_000_002),
                ProducerRecord(key: [], value: [], timestamp: 1_700_000_000_003),
            ]
            let first = try await client.produce(
                topic: "events", partition: 1, records: records, compression: compression)
            #expect(first.baseOffset == 0)
            let second = try await client.produce(
                topic: "events", partition: 1, records: records, compression: compression)
            #expect(second.baseOffset == 4)
            #expect(second.logStartOffset == 0)

            let fetched = try await client.fetchRecords(topic: "events", partition: 1, offset: 0)
            #expect(fetched.records.count == 8)
            #expect(fetched.nextOffset == 8)
            #expect(fetched.highWatermark == 8)
            for (index, record) in fetched.records.enumerated() {
                let sent = records[index % 4]
                #expect(record.offset == Int64(index))
                #expect(record.key == sent.key)
                #expect(record.value == sent.value)
                #expect(record.headers == sent.headers)
                #expect(record.timestamp == sent.timestamp)
            }
            // The other partition is untouched.
            let other = try await client.fetch(topic: "events", partition: 0, offset: 0, maxWait: .zero)
            #expect(other.error == .none && other.records.readableBytes == 0 && other.highWatermark == 0)

            #expect(
                try await client.listOffsets(topic: "events", partition: 1, timestamp: HubClient.earliest).offset == 0)
            #expect(
                try await client.listOffsets(topic: "events", partition: 1, timestamp: HubClient.latest).offset == 8)
            await client.close()
        }
    }

    @Test func fetchDropsRecordsBeforeTheOffset() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "t", partitions: 1)
            _ = try await client.produce(
                topic: "t", partition: 0, records: (0..<10).map { ProducerRecord(value: "v\($0)") })
            // The whole batch comes back; the helper drops offsets 0-5.
            let raw = try await client.fetch(topic: "t", partition: 0, offset: 6)
            #expect(raw.records.readableBytes > 0)
            #expect(raw.nextOffset == 10)
            let fetched = try await client.fetchRecords(topic: "t", partition: 0, offset: 6)
            #expect(fetched.records.map(\.offset) == [6, 7, 8, 9])
            #expect(fetched.records.map { String(decoding: $0.value!, as: UTF8.self) } == ["v6", "v7", "v8", "v9"])
            await client.close()
        }
    }

    @Test func fetchesSeveralPartitionsInOneRequest() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "multi", partitions: 3)
            for partition in Int32(0)..<3 {
                for round in 0...Int(partition) {
                    _ = try await client.produce(
                        topic: "multi", partition: partition, records: [ProducerRecord(value: "p\(partition)-\(round)")]
                    )
                }
            }
            let results = try await client.fetch(topic: "multi", offsets: [2: 1, 0: 0, 1: 5], maxWait: .zero)
            #expect(results.map(\.partition) == [0, 1, 2])
            #expect(try results[0].decodeRecords().map(\.offset) == [0])
            #expect(results[1].error == .offsetOutOfRange)
            #expect(results[1].highWatermark == 2)
            #expect(
                try results[2].decodeRecords().map { String(decoding: $0.value!, as: UTF8.self) } == ["p2-1", "p2-2"])
            await client.close()
        }
    }

    @Test func pipelinedProducesFromManyTasksOnOneConnection() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "load", partitions: 1)
            let tasks = 8
            let requests = 40
            let perBatch = 5
            let offsets = try await withThrowingTaskGroup(of: (Int, [Int64]).self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var offsets: [Int64] = []
                        for request in 0..<requests {
                            let records = (0..<perBatch).map {
                                ProducerRecord(key: "task\(task)", value: "\(request)-\($0)")
                            }
                            offsets.append(
                                try await client.produce(topic: "load", partition: 0, records: records).baseOffset)
                        }
                        return (task, offsets)
                    }
                }
                var all: [Int: [Int64]] = [:]
                for try await (task, offsets) in group { all[task] = offsets }
                return all
            }
            let bases = offsets.values.flatMap { $0 }.sorted()
            #expect(bases == stride(from: Int64(0), to: Int64(tasks * requests * perBatch), by: perBatch).map { $0 })
            // Each task's records are where the broker said, in the order the task sent them.
            var records: [Record] = []
            var next: Int64 = 0
            while next < Int64(tasks * requests * perBatch) {
                let fetched = try await client.fetchRecords(topic: "load", partition: 0, offset: next)
                records += fetched.records
                next = fetched.nextOffset
            }
            for (task, bases) in offsets {
                for (request, base) in bases.enumerated() {
                    for index in 0..<perBatch {
                        let record = records[Int(base) + index]
                        #expect(record.key == bytes("task\(task)"))
                        #expect(record.value == bytes("\(request)-\(index)"))
                    }
                }
            }
            await client.close()
        }
    }

    @Test func acksZeroKeepsLaterResponsesMatched() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "fire", partitions: 1)
            for index in 0..<20 {
                let result = try await client.produce(
                    topic: "fire", partition: 0, records: [ProducerRecord(value: "\(index)")], acks: 0)
                #expect(result.baseOffset == -1)
            }
            // Requests on a connection are handled in order, so this one lands after the 20.
            let acked = try await client.produce(
                topic: "fire", partition: 0, records: [ProducerRecord(value: "last")], acks: 1)
            #expect(acked.baseOffset == 20)
            await client.close()
        }
    }

    @Test func longPollWakesOnProduce() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "wait", partitions: 1)
            let started = ContinuousClock.now
            // The fetch and the produce share the connection: the produce is pipelined behind it.
            async let fetched = client.fetchRecords(topic: "wait", partition: 0, offset: 0, maxWait: .seconds(20))
            try await Task.sleep(for: .milliseconds(300))
            _ = try await client.produce(topic: "wait", partition: 0, records: [ProducerRecord(value: "wake")])
            let result = try await fetched
            #expect(result.records.map(\.value) == [bytes("wake")])
            #expect(ContinuousClock.now - started < .seconds(10))
            // With nothing to read, the broker answers after maxWait with no records.
            let empty = try await client.fetch(topic: "wait", partition: 0, offset: 1, maxWait: .milliseconds(200))
            #expect(empty.error == .none && empty.records.readableBytes == 0)
            await client.close()
        }
    }

    @Test func cancellingALongPollReturnsAtOnce() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "idle", partitions: 1)
            let task = Task { try await client.fetch(topic: "idle", partition: 0, offset: 0, maxWait: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(200))
            let started = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - started < .seconds(5))
            await client.close()
        }
    }

    @Test func offsetsByTime() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "timed", partitions: 1)
            for (index, time) in [Int64(1_000), 2_000, 3_000].enumerated() {
                _ = try await client.produce(
                    topic: "timed", partition: 0, records: [ProducerRecord(value: "\(index)", timestamp: time)])
            }
            let at1500 = try await client.listOffsets(topic: "timed", partition: 0, timestamp: 1_500)
            #expect(at1500.offset == 1 && at1500.timestamp == 2_000)
            #expect(try await client.listOffsets(topic: "timed", partition: 0, timestamp: 1_000).offset == 0)
            #expect(try await client.listOffsets(topic: "timed", partition: 0, timestamp: 3_000).offset == 2)
            #expect(try await client.listOffsets(topic: "timed", partition: 0, timestamp: 3_001).offset == -1)
            #expect(try await client.listOffsets(topic: "timed", partition: 0, timestamp: HubClient.latest).offset == 3)
            await client.close()
        }
    }

    @Test func createDescribeAndDeleteTopics() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            let created = try await client.createTopic(
                name: "configured", partitions: 4, configs: ["retention.ms": "3600000", "cleanup.policy": "compact"])
            #expect(created.partitions == 4)
            #expect(created.configs["retention.ms"] == "3600000")
            let configs = try await client.describeTopicConfigs(name: "configured")
            let byName = Dictionary(uniqueKeysWithValues: configs.map { ($0.name, $0) })
            #expect(byName["retention.ms"]?.value == "3600000")
            #expect(byName["retention.ms"]?.isDefault == false)
            #expect(byName["cleanup.policy"]?.value == "compact")
            #expect(byName["max.message.bytes"]?.isDefault == true)

            let duplicate = await #expect(throws: HubClientError.self) {
                try await client.createTopic(name: "configured", partitions: 1)
            }
            #expect(duplicate?.kafkaError == .topicAlreadyExists)
            let invalid = await #expect(throws: HubClientError.self) { try await client.createTopic(name: "bad name!") }
            #expect(invalid?.kafkaError == .invalidTopicException)
            let badConfig = await #expect(throws: HubClientError.self) {
                try await client.createTopic(name: "badconfig", configs: ["retention.ms": "soon"])
            }
            #expect(badConfig?.kafkaError == .invalidConfig)
            let validated = try await client.createTopic(name: "dryrun", partitions: 2, validateOnly: true)
            #expect(validated.partitions == 2)
            #expect(try await client.metadata(topics: ["dryrun"]).topic("dryrun")?.error == .unknownTopicOrPartition)

            try await client.deleteTopic(name: "configured")
            #expect(
                try await client.metadata(topics: ["configured"]).topic("configured")?.error == .unknownTopicOrPartition
            )
            let again = await #expect(throws: HubClientError.self) { try await client.deleteTopic(name: "configured") }
            #expect(again?.kafkaError == .unknownTopicOrPartition)
            let describeMissing = await #expect(throws: HubClientError.self) {
                try await client.describeTopicConfigs(name: "configured")
            }
            #expect(describeMissing?.kafkaError == .unknownTopicOrPartition)
            await client.close()
        }
    }

    @Test func brokerErrorsCarryTheirKafkaCode() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "small", partitions: 1, configs: ["max.message.bytes": "1000"])

            let unknownTopic = await #expect(throws: HubClientError.self) {
                try await client.produce(topic: "nowhere", partition: 0, records: [ProducerRecord(value: "x")])
            }
            #expect(unknownTopic?.code == .broker)
            #expect(unknownTopic?.kafkaError == .unknownTopicOrPartition)

            let unknownPartition = await #expect(throws: HubClientError.self) {
                try await client.produce(topic: "small", partition: 3, records: [ProducerRecord(value: "x")])
            }
            #expect(unknownPartition?.kafkaError == .unknownTopicOrPartition)

            let tooLarge = await #expect(throws: HubClientError.self) {
                try await client.produce(
                    topic: "small", partition: 0, records: [ProducerRecord(value: String(repeating: "y", count: 2000))])
            }
            #expect(tooLarge?.kafkaError == .messageTooLarge)
            #expect(tooLarge?.message.contains("MESSAGE_TOO_LARGE") == true)

            _ = try await client.produce(topic: "small", partition: 0, records: [ProducerRecord(value: "ok")])
            let beyond = try await client.fetch(topic: "small", partition: 0, offset: 5)
            #expect(beyond.error == .offsetOutOfRange)
            #expect(beyond.highWatermark == 1 && beyond.logStartOffset == 0)
            let outOfRange = await #expect(throws: HubClientError.self) {
                try await client.fetchRecords(topic: "small", partition: 0, offset: 5)
            }
            #expect(outOfRange?.kafkaError == .offsetOutOfRange)

            let fetchUnknown = try await client.fetch(topic: "nowhere", partition: 0, offset: 0)
            #expect(fetchUnknown.error == .unknownTopicOrPartition)
            let listUnknown = await #expect(throws: HubClientError.self) {
                try await client.listOffsets(topic: "nowhere", partition: 0, timestamp: HubClient.latest)
            }
            #expect(listUnknown?.kafkaError == .unknownTopicOrPartition)

            let invalidAcks = await #expect(throws: HubClientError.self) {
                try await client.produce(topic: "small", partition: 0, records: [ProducerRecord(value: "x")], acks: 2)
            }
            #expect(invalidAcks?.kafkaError == .invalidRequiredAcks)
            let emptyBatch = await #expect(throws: HubClientError.self) {
                try await client.produce(topic: "small", partition: 0, records: [ProducerRecord]())
            }
            #expect(emptyBatch?.code == .invalidArgument)

            // The connection survives all of these.
            #expect(try await client.listOffsets(topic: "small", partition: 0, timestamp: HubClient.latest).offset == 1)
            await client.close()
        }
    }

    @Test func producesPrebuiltBatches() async throws {
        try await TestHub.with { hub in
            let client = try await hub.connect()
            try await client.createTopic(name: "raw", partitions: 1)
            var batches = try HubClient.makeBatch([ProducerRecord(value: "a"), ProducerRecord(value: "b")])
            var second = try HubClient.makeBatch([ProducerRecord(value: "c")], compression: .lz4)
            batches.writeBuffer(&second)
            let result = try await client.produce(topic: "raw", partition: 0, records: batches)
            #expect(result.baseOffset == 0)
            let fetched = try await client.fetchRecords(topic: "raw", partition: 0, offset: 0)
            #expect(fetched.records.map { $0.value! } == [bytes("a"), bytes("b"), bytes("c")])
            #expect(fetched.nextOffset == 3)
            await client.close()
        }
    }
}

/// Kafka's default partitioner, against Kafka's own test values.
@Suite struct DefaultPartitionerTests {
    @Test func murmur2MatchesKafka() {
        // org.apache.kafka.common.utils.UtilsTest#testMurmur2 and values printed by Utils.murmur2.
        let cases: [(String, Int32)] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("1234", -1_614_185_708),
            ("12345", -1_188_365_604),
        ]
        for (key, expected) in cases {
            #expect(DefaultPartitioner.murmur2(Array(key.utf8)) == expected, "murmur2(\(key))")
        }
    }

    @Test func partitionIsPositiveHashModuloCount() {
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340.
        #expect(DefaultPartitioner.partition(forKey: Array("21".utf8), partitions: 1) == 0)
        #expect(DefaultPartitioner.partition(forKey: Array("21".utf8), partitions: 7) == 1_173_551_340 % 7)
        #expect(DefaultPartitioner.partition(forKey: Array("abc".utf8), partitions: 10) == 479_470_107 % 10)
        #expect(
            DefaultPartitioner.partition(forKey: [], partitions: 3) == Int(DefaultPartitioner.murmur2([]) & 0x7fff_ffff)
                % 3)
    }
}
