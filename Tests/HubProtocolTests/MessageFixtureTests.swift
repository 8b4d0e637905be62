import HubProtocol
import NIOCore
import Testing

/// Byte-exact fixtures written by hand from the schemas, one field a line, checked in both
/// directions; and every strict prefix of each must fail to decode.
@Suite struct HeaderFixtureTests {
    @Test func requestHeaderV1() throws {
        let bytes = fixture(
            [0x00, 0x03],  // RequestApiKey 3 (Metadata)
            [0x00, 0x01],  // RequestApiVersion 1
            [0x00, 0x00, 0x00, 0x07],  // CorrelationId 7
            [0x00, 0x03], utf8("abc")  // ClientId "abc": int16 length
        )
        let header = RequestHeader(requestApiKey: 3, requestApiVersion: 1, correlationId: 7, clientId: "abc")
        try expectCodec(header, version: 1, bytes: bytes)
        expectEveryPrefixThrows(RequestHeader.self, version: 1, bytes: bytes)

        // A null client id.
        let null = fixture([0x00, 0x03], [0x00, 0x01], [0x00, 0x00, 0x00, 0x07], [0xFF, 0xFF])
        // (ClientId is nullable but its default is "", as in Kafka.)
        try expectCodec(
            RequestHeader(requestApiKey: 3, requestApiVersion: 1, correlationId: 7, clientId: nil), version: 1,
            bytes: null)
    }

    @Test func requestHeaderV2KeepsTheOldClientIdForm() throws {
        let bytes = fixture(
            [0x00, 0x12],  // RequestApiKey 18 (ApiVersions)
            [0x00, 0x03],  // RequestApiVersion 3
            [0x00, 0x00, 0x00, 0x01],  // CorrelationId 1
            [0x00, 0x07], utf8("rdkafka"),  // ClientId: int16 length even though v2 is flexible
            [0x00]  // no tagged fields
        )
        let header = RequestHeader(requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: "rdkafka")
        try expectCodec(header, version: 2, bytes: bytes)
        expectEveryPrefixThrows(RequestHeader.self, version: 2, bytes: bytes)
        // A null client id is still the int16 -1.
        let null = fixture([0x00, 0x12], [0x00, 0x03], [0x00, 0x00, 0x00, 0x01], [0xFF, 0xFF], [0x00])
        try expectCodec(
            RequestHeader(requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: nil), version: 2,
            bytes: null)
    }

    @Test func requestHeaderVersionIsChosenFromTheFrame() throws {
        // An ApiVersions v3 request: header v2, then the body.
        var frame = ByteBuffer(
            bytes: fixture(
                [0x00, 0x12], [0x00, 0x03], [0x00, 0x00, 0x00, 0x2A], [0x00, 0x01], utf8("c"), [0x00],
                [0x02], utf8("x"), [0x02], utf8("1"), [0x00]
            ))
        let header = try RequestHeader(from: &frame)
        #expect(header == RequestHeader(requestApiKey: 18, requestApiVersion: 3, correlationId: 42, clientId: "c"))
        let body = try ApiVersionsRequest(from: &frame, version: header.requestApiVersion)
        #expect(body == ApiVersionsRequest(clientSoftwareName: "x", clientSoftwareVersion: "1"))
        #expect(frame.readableBytes == 0)

        // A Metadata v1 request: header v1, no tagged fields.
        var old = ByteBuffer(bytes: fixture([0x00, 0x03], [0x00, 0x01], [0x00, 0x00, 0x00, 0x01], [0xFF, 0xFF]))
        #expect(try RequestHeader(from: &old).clientId == nil)
        #expect(old.readableBytes == 0)

        var short = ByteBuffer(bytes: [0x00, 0x12, 0x00])
        #expect(throws: ProtocolError.self) { try RequestHeader(from: &short) }
    }

    @Test func responseHeaders() throws {
        try expectCodec(ResponseHeader(correlationId: 7), version: 0, bytes: [0x00, 0x00, 0x00, 0x07])
        try expectCodec(ResponseHeader(correlationId: 7), version: 1, bytes: [0x00, 0x00, 0x00, 0x07, 0x00])
    }
}

@Suite struct ApiVersionsFixtureTests {
    @Test func requestV3() throws {
        let bytes = fixture(
            [0x0B], utf8("librdkafka"),  // ClientSoftwareName: compact, 10 + 1
            [0x06], utf8("2.3.0"),  // ClientSoftwareVersion: compact, 5 + 1
            [0x00]  // no tagged fields
        )
        let request = ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0")
        try expectCodec(request, version: 3, bytes: bytes)
        expectEveryPrefixThrows(ApiVersionsRequest.self, version: 3, bytes: bytes)
        // v0-v2 have an empty body.
        try expectCodec(ApiVersionsRequest(), version: 2, bytes: [])
    }

    @Test func responseV0() throws {
        let bytes = fixture(
            [0x00, 0x00],  // ErrorCode 0
            [0x00, 0x00, 0x00, 0x02],  // ApiKeys: int32 count 2
            [0x00, 0x00], [0x00, 0x00], [0x00, 0x0B],  // Produce 0...11
            [0x00, 0x12], [0x00, 0x00], [0x00, 0x04]  // ApiVersions 0...4
            // No ThrottleTimeMs before v1.
        )
        let response = ApiVersionsResponse(
            errorCode: 0,
            apiKeys: [
                .init(apiKey: 0, minVersion: 0, maxVersion: 11),
                .init(apiKey: 18, minVersion: 0, maxVersion: 4),
            ]
        )
        try expectCodec(response, version: 0, bytes: bytes)
        expectEveryPrefixThrows(ApiVersionsResponse.self, version: 0, bytes: bytes)
    }

    @Test func responseV3WithTaggedFields() throws {
        let bytes = fixture(
            [0x00, 0x00],  // ErrorCode 0
            [0x03],  // ApiKeys: compact count 2 + 1
            [0x00, 0x00], [0x00, 0x00], [0x00, 0x0B], [0x00],  // Produce 0...11, no tagged fields
            [0x00, 0x12], [0x00, 0x00], [0x00, 0x04], [0x00],  // ApiVersions 0...4, no tagged fields
            [0x00, 0x00, 0x00, 0x05],  // ThrottleTimeMs 5
            [0x02],  // two tagged fields
            [0x00, 0x17],  // tag 0 SupportedFeatures, 23 bytes:
            [0x02],  //   compact count 1 + 1
            [0x11], utf8("metadata.version"),  //   Name: compact, 16 + 1
            [0x00, 0x01], [0x00, 0x14],  //   MinVersion 1, MaxVersion 20
            [0x00],  //   no tagged fields
            [0x01, 0x08],  // tag 1 FinalizedFeaturesEpoch, 8 bytes:
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07]  //   7
            // FinalizedFeatures (tag 2) empty and ZkMigrationReady (tag 3) false: defaults, not written.
        )
        let response = ApiVersionsResponse(
            errorCode: 0,
            apiKeys: [
                .init(apiKey: 0, minVersion: 0, maxVersion: 11),
                .init(apiKey: 18, minVersion: 0, maxVersion: 4),
            ],
            throttleTimeMs: 5,
            supportedFeatures: [.init(name: "metadata.version", minVersion: 1, maxVersion: 20)],
            finalizedFeaturesEpoch: 7
        )
        try expectCodec(response, version: 3, bytes: bytes)
        expectEveryPrefixThrows(ApiVersionsResponse.self, version: 3, bytes: bytes)

        // At defaults, the tagged section is empty.
        let plain = fixture([0x00, 0x23], [0x01], [0x00, 0x00, 0x00, 0x00], [0x00])
        try expectCodec(ApiVersionsResponse(errorCode: 35), version: 3, bytes: plain)
    }
}

@Suite struct MetadataFixtureTests {
    @Test func requestV1() throws {
        let bytes = fixture(
            [0x00, 0x00, 0x00, 0x01],  // Topics: int32 count 1
            [0x00, 0x06], utf8("events")  // Name: int16 length
        )
        try expectCodec(MetadataRequest(topics: [.init(name: "events")]), version: 1, bytes: bytes)
        expectEveryPrefixThrows(MetadataRequest.self, version: 1, bytes: bytes)
        // Null topics (all topics) is allowed from v1.
        try expectCodec(MetadataRequest(topics: nil), version: 1, bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        // In v0 null is not allowed; an empty array means all topics.
        var null = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: ProtocolError.self) { try MetadataRequest(from: &null, version: 0) }
    }

    @Test func requestV9() throws {
        let bytes = fixture(
            [0x02],  // Topics: compact count 1 + 1
            [0x07], utf8("events"),  // Name: compact (TopicId only from v10)
            [0x00],  // topic: no tagged fields
            [0x00],  // AllowAutoTopicCreation false
            [0x00],  // IncludeClusterAuthorizedOperations false
            [0x01],  // IncludeTopicAuthorizedOperations true
            [0x00]  // no tagged fields
        )
        let request = MetadataRequest(
            topics: [.init(name: "events")],
            allowAutoTopicCreation: false,
            includeClusterAuthorizedOperations: false,
            includeTopicAuthorizedOperations: true
        )
        try expectCodec(request, version: 9, bytes: bytes)
        expectEveryPrefixThrows(MetadataRequest.self, version: 9, bytes: bytes)
        // Null topics in the compact form.
        try expectCodec(MetadataRequest(topics: nil), version: 9, bytes: [0x00, 0x01, 0x00, 0x00, 0x00])
    }
}

@Suite struct ProduceFixtureTests {
    static let records: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF]

    @Test func requestV3() throws {
        let bytes = fixture(
            [0xFF, 0xFF],  // TransactionalId null
            [0xFF, 0xFF],  // Acks -1
            [0x00, 0x00, 0x75, 0x30],  // TimeoutMs 30000
            [0x00, 0x00, 0x00, 0x01],  // TopicData: int32 count 1
            [0x00, 0x01], utf8("t"),  // Name
            [0x00, 0x00, 0x00, 0x01],  // PartitionData: int32 count 1
            [0x00, 0x00, 0x00, 0x00],  // Index 0
            [0x00, 0x00, 0x00, 0x04], Self.records  // Records: int32 length 4
        )
        let request = ProduceRequest(
            transactionalId: nil,
            acks: -1,
            timeoutMs: 30000,
            topicData: [.init(name: "t", partitionData: [.init(index: 0, records: ByteBuffer(bytes: Self.records))])]
        )
        try expectCodec(request, version: 3, bytes: bytes)
        expectEveryPrefixThrows(ProduceRequest.self, version: 3, bytes: bytes)
    }

    @Test func requestV9() throws {
        let bytes = fixture(
            [0x03], utf8("tx"),  // TransactionalId: compact, 2 + 1
            [0x00, 0x01],  // Acks 1
            [0x00, 0x00, 0x03, 0xE8],  // TimeoutMs 1000
            [0x02],  // TopicData: compact count 1 + 1
            [0x02], utf8("t"),  // Name: compact
            [0x02],  // PartitionData: compact count 1 + 1
            [0x00, 0x00, 0x00, 0x02],  // Index 2
            [0x05], Self.records,  // Records: compact length 4 + 1
            [0x00],  // partition: no tagged fields
            [0x00],  // topic: no tagged fields
            [0x00]  // request: no tagged fields
        )
        let request = ProduceRequest(
            transactionalId: "tx",
            acks: 1,
            timeoutMs: 1000,
            topicData: [.init(name: "t", partitionData: [.init(index: 2, records: ByteBuffer(bytes: Self.records))])]
        )
        try expectCodec(request, version: 9, bytes: bytes)
        expectEveryPrefixThrows(ProduceRequest.self, version: 9, bytes: bytes)

        // The records are a slice of the request, not a copy.
        var input = ByteBuffer(bytes: bytes)
        let start = input.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let decoded = try ProduceRequest(from: &input, version: 9)
        let records = try #require(decoded.topicData.first?.partitionData.first?.records)
        let recordsStart = records.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(recordsStart == start + UInt(bytes.count - 3 - Self.records.count))
    }

    @Test func nullRecords() throws {
        let request = ProduceRequest(topicData: [.init(name: "t", partitionData: [.init(index: 0, records: nil)])])
        try expectCodec(
            request, version: 9,
            bytes: fixture(
                [0x00], [0x00, 0x00], [0x00, 0x00, 0x00, 0x00], [0x02, 0x02], utf8("t"), [0x02, 0, 0, 0, 0], [0x00],
                [0x00, 0x00, 0x00])
        )
    }
}

@Suite struct FetchFixtureTests {
    @Test func requestV4() throws {
        let bytes = fixture(
            [0xFF, 0xFF, 0xFF, 0xFF],  // ReplicaId -1
            [0x00, 0x00, 0x01, 0xF4],  // MaxWaitMs 500
            [0x00, 0x00, 0x00, 0x01],  // MinBytes 1
            [0x03, 0x20, 0x00, 0x00],  // MaxBytes 52428800 (v3+)
            [0x01],  // IsolationLevel 1 (v4+)
            // SessionId, SessionEpoch only from v7.
            [0x00, 0x00, 0x00, 0x01],  // Topics: int32 count 1
            [0x00, 0x01], utf8("t"),  // Topic
            [0x00, 0x00, 0x00, 0x01],  // Partitions: int32 count 1
            [0x00, 0x00, 0x00, 0x00],  // Partition 0 (CurrentLeaderEpoch only from v9)
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A],  // FetchOffset 42 (LogStartOffset only from v5)
            [0x00, 0x10, 0x00, 0x00]  // PartitionMaxBytes 1048576
            // ForgottenTopicsData only from v7, RackId from v11.
        )
        let request = FetchRequest(
            replicaId: -1,
            maxWaitMs: 500,
            minBytes: 1,
            maxBytes: 52_428_800,
            isolationLevel: 1,
            topics: [
                .init(topic: "t", partitions: [.init(partition: 0, fetchOffset: 42, partitionMaxBytes: 1_048_576)])
            ]
        )
        try expectCodec(request, version: 4, bytes: bytes)
        expectEveryPrefixThrows(FetchRequest.self, version: 4, bytes: bytes)
    }

    static let requestV12: [UInt8] = fixture(
        [0xFF, 0xFF, 0xFF, 0xFF],  // ReplicaId -1
        [0x00, 0x00, 0x01, 0xF4],  // MaxWaitMs 500
        [0x00, 0x00, 0x00, 0x01],  // MinBytes 1
        [0x7F, 0xFF, 0xFF, 0xFF],  // MaxBytes 0x7fffffff
        [0x00],  // IsolationLevel 0
        [0x00, 0x00, 0x00, 0x00],  // SessionId 0
        [0xFF, 0xFF, 0xFF, 0xFF],  // SessionEpoch -1
        [0x02],  // Topics: compact count 1 + 1
        [0x02], utf8("t"),  // Topic: compact
        [0x02],  // Partitions: compact count 1 + 1
        [0x00, 0x00, 0x00, 0x00],  // Partition 0
        [0x00, 0x00, 0x00, 0x05],  // CurrentLeaderEpoch 5
        [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A],  // FetchOffset 42
        [0xFF, 0xFF, 0xFF, 0xFF],  // LastFetchedEpoch -1
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // LogStartOffset -1
        [0x00, 0x10, 0x00, 0x00],  // PartitionMaxBytes 1048576
        [0x00],  // partition: no tagged fields
        [0x00],  // topic: no tagged fields
        [0x01],  // ForgottenTopicsData: compact count 0 + 1
        [0x01],  // RackId "": compact
        [0x01],  // one tagged field
        [0x00, 0x04],  // tag 0 ClusterId, 4 bytes:
        [0x04], utf8("abc")  //   compact nullable string "abc"
    )

    static let requestV12Value = FetchRequest(
        clusterId: "abc",
        replicaId: -1,
        maxWaitMs: 500,
        minBytes: 1,
        topics: [
            .init(
                topic: "t",
                partitions: [.init(partition: 0, currentLeaderEpoch: 5, fetchOffset: 42, partitionMaxBytes: 1_048_576)])
        ]
    )

    @Test func requestV12WithTaggedClusterId() throws {
        try expectCodec(Self.requestV12Value, version: 12, bytes: Self.requestV12)
        expectEveryPrefixThrows(FetchRequest.self, version: 12, bytes: Self.requestV12)
    }

    @Test func unknownTagsAreKeptAndWrittenInOrder() throws {
        // The same request with an unknown tag 7 after ClusterId: the section then has two fields.
        var bytes = Self.requestV12
        bytes.removeLast(7)
        bytes += fixture([0x02], [0x00, 0x04, 0x04], utf8("abc"), [0x07, 0x02, 0xCA, 0xFE])
        var input = ByteBuffer(bytes: bytes)
        let request = try FetchRequest(from: &input, version: 12)
        #expect(request.clusterId == "abc")
        #expect(request.unknownTaggedFields == [TaggedField(tag: 7, data: ByteBuffer(bytes: [0xCA, 0xFE]))])
        var reencoded = ByteBuffer()
        request.encode(to: &reencoded, version: 12)
        #expect(Array(reencoded.readableBytesView) == bytes)

        // A tag known only from a later version (ReplicaState, tag 1, v15+) is unknown at v12.
        var early = Self.requestV12
        early.removeLast(7)
        early += [0x01, 0x01, 0x02, 0xAB, 0xCD]
        var earlyInput = ByteBuffer(bytes: early)
        let earlyRequest = try FetchRequest(from: &earlyInput, version: 12)
        #expect(earlyRequest.replicaState == FetchRequest.ReplicaState())
        #expect(earlyRequest.unknownTaggedFields.map(\.tag) == [1])
    }

    @Test func responseV12WithTaggedCurrentLeader() throws {
        let bytes = fixture(
            [0x00, 0x00, 0x00, 0x00],  // ThrottleTimeMs 0
            [0x00, 0x00],  // ErrorCode 0
            [0x00, 0x00, 0x00, 0x00],  // SessionId 0
            [0x02],  // Responses: compact count 1 + 1
            [0x02], utf8("t"),  // Topic: compact (TopicId only from v13)
            [0x02],  // Partitions: compact count 1 + 1
            [0x00, 0x00, 0x00, 0x00],  // PartitionIndex 0
            [0x00, 0x06],  // ErrorCode 6 NOT_LEADER_OR_FOLLOWER
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A],  // HighWatermark 10
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A],  // LastStableOffset 10
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],  // LogStartOffset 0
            [0x00],  // AbortedTransactions null
            [0xFF, 0xFF, 0xFF, 0xFF],  // PreferredReadReplica -1
            [0x00],  // Records null
            [0x01],  // one tagged field
            [0x01, 0x09],  // tag 1 CurrentLeader, 9 bytes:
            [0x00, 0x00, 0x00, 0x02],  //   LeaderId 2
            [0x00, 0x00, 0x00, 0x05],  //   LeaderEpoch 5
            [0x00],  //   no tagged fields
            [0x00],  // topic: no tagged fields
            [0x00]  // response: no tagged fields (NodeEndpoints only from v16)
        )
        let response = FetchResponse(
            responses: [
                .init(
                    topic: "t",
                    partitions: [
                        .init(
                            partitionIndex: 0,
                            errorCode: 6,
                            highWatermark: 10,
                            lastStableOffset: 10,
                            logStartOffset: 0,
                            currentLeader: .init(leaderId: 2, leaderEpoch: 5),
                            abortedTransactions: nil,
                            records: nil
                        )
                    ]
                )
            ]
        )
        try expectCodec(response, version: 12, bytes: bytes)
        expectEveryPrefixThrows(FetchResponse.self, version: 12, bytes: bytes)
    }
}

@Suite struct ListOffsetsFixtureTests {
    @Test func requestV1() throws {
        let bytes = fixture(
            [0xFF, 0xFF, 0xFF, 0xFF],  // ReplicaId -1 (IsolationLevel only from v2)
            [0x00, 0x00, 0x00, 0x01],  // Topics: int32 count 1
            [0x00, 0x01], utf8("t"),  // Name
            [0x00, 0x00, 0x00, 0x01],  // Partitions: int32 count 1
            [0x00, 0x00, 0x00, 0x03],  // PartitionIndex 3 (CurrentLeaderEpoch only from v4)
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]  // Timestamp -1 (latest); MaxNumOffsets is v0 only
        )
        let request = ListOffsetsRequest(
            replicaId: -1,
            topics: [.init(name: "t", partitions: [.init(partitionIndex: 3, timestamp: -1)])]
        )
        try expectCodec(request, version: 1, bytes: bytes)
        expectEveryPrefixThrows(ListOffsetsRequest.self, version: 1, bytes: bytes)
        // In v0 MaxNumOffsets follows the timestamp.
        var v0 = ByteBuffer()
        request.encode(to: &v0, version: 0)
        #expect(Array(v0.readableBytesView) == bytes + [0x00, 0x00, 0x00, 0x01])
    }
}
