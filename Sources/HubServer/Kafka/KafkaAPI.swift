import HubProtocol
import LogStore
import Logging
import NIOCore

/// Answers Kafka requests from the log: parses the request header, checks the API and version
/// against what Hooklog implements, decodes the body, runs the handler and encodes the response
/// with the right header version.
final class KafkaAPI: KafkaRequestProcessor {
    /// Broker-level settings visible to clients.
    struct Settings: Sendable {
        var nodeId: Int32 = 0
        /// Host and port Metadata returns (the listener's address unless advertised otherwise).
        var advertisedHost = "127.0.0.1"
        var advertisedPort: Int32 = 9092
        var clusterId = "hooklog"
        /// `auto.create.topics`: Metadata for an unknown topic creates it.
        var autoCreateTopics = true
        /// Fetch waits at most this long, whatever the client asks.
        var maxFetchWait: Duration = .seconds(30)
    }

    let logs: LogManager
    let settings: Settings
    let logger: Logger
    /// Consumer groups' committed offsets (`__cursors`).
    let offsets: CommittedOffsets
    /// API keys; nil or empty means authentication is off.
    let keys: ApiKeyStore?
    /// Classic consumer groups: membership, rebalances, heartbeats.
    let groups: GroupCoordinator

    init(
        logs: LogManager, offsets: CommittedOffsets, groups: GroupCoordinator, keys: ApiKeyStore?,
        settings: Settings, logger: Logger
    ) {
        self.logs = logs
        self.offsets = offsets
        self.groups = groups
        self.keys = keys
        self.settings = settings
        self.logger = logger
    }

    /// Whether a group accepts an offset commit from this generation and member. Commits with
    /// generation -1 and no member id come from consumers that assign partitions themselves.
    func commitAllowed(group: String, generation: Int32, member: String) -> ErrorCode {
        if !Self.may(.consume) { return .groupAuthorizationFailed }
        if group.isEmpty { return .invalidGroupId }
        return groups.validateCommit(groupId: group, generation: generation, memberId: member)
    }

    /// The API versions Hooklog implements; ApiVersions advertises exactly these.
    static let supported: [Int16: ClosedRange<Int16>] = [
        ProduceRequest.apiKey: 0...9,
        FetchRequest.apiKey: 4...12,
        ListOffsetsRequest.apiKey: 1...7,
        MetadataRequest.apiKey: 0...12,
        ApiVersionsRequest.apiKey: 0...3,
        CreateTopicsRequest.apiKey: 2...7,
        DeleteTopicsRequest.apiKey: 1...6,
        DescribeConfigsRequest.apiKey: 1...4,
        FindCoordinatorRequest.apiKey: 0...4,
        OffsetCommitRequest.apiKey: 2...8,
        OffsetFetchRequest.apiKey: 1...8,
        InitProducerIdRequest.apiKey: 0...5,
        DeleteRecordsRequest.apiKey: 0...2,
        SaslHandshakeRequest.apiKey: 1...1,
        SaslAuthenticateRequest.apiKey: 0...2,
        JoinGroupRequest.apiKey: 0...9,
        SyncGroupRequest.apiKey: 0...5,
        HeartbeatRequest.apiKey: 0...4,
        LeaveGroupRequest.apiKey: 0...5,
        ListGroupsRequest.apiKey: 0...5,
        DescribeGroupsRequest.apiKey: 0...5,
    ]

    /// A decoded request header.
    struct Header {
        var apiKey: Int16
        var apiVersion: Int16
        var correlationId: Int32
        var clientId: String?
    }

    func process(_ frame: ByteBuffer, connection: KafkaConnection, sequence: Int) async -> KafkaReply {
        // Requests start in arrival order; a Produce releases the next one once its appends are
        // queued, everything else at once (or at the latest when it finishes).
        await connection.ordering.wait(for: sequence)
        let release = GateRelease(gate: connection.ordering, sequence: sequence)
        defer { release() }
        var buffer = frame
        guard let apiKey = buffer.getInteger(at: buffer.readerIndex, as: Int16.self),
            let apiVersion = buffer.getInteger(at: buffer.readerIndex + 2, as: Int16.self),
            let correlationId = buffer.getInteger(at: buffer.readerIndex + 4, as: Int32.self)
        else { return .close(reason: "truncated request header") }
        var header = Header(apiKey: apiKey, apiVersion: apiVersion, correlationId: correlationId, clientId: nil)
        guard let range = Self.supported[apiKey] else {
            return .close(reason: "unsupported API key \(apiKey)")
        }
        guard range.contains(apiVersion) else {
            if apiKey == ApiVersionsRequest.apiKey { return unsupportedApiVersionsReply(header) }
            return .close(reason: "unsupported version \(apiVersion) of API \(apiKey) (supported \(range))")
        }
        guard let principal = principal(of: connection) ?? (Self.preAuthentication.contains(apiKey) ? Principal(keyId: nil, roles: []) : nil)
        else {
            return .close(reason: "API \(apiKey) before SASL authentication")
        }
        do {
            let parsed = try RequestHeader(from: &buffer)
            header.clientId = parsed.clientId
            return try await Self.$principal.withValue(principal) {
                try await dispatch(header, body: &buffer, release: release, connection: connection)
            }
        } catch {
            return .close(reason: "malformed request (API \(apiKey) v\(apiVersion)): \(error)")
        }
    }

    private func dispatch(
        _ header: Header, body: inout ByteBuffer, release: GateRelease, connection: KafkaConnection
    ) async throws -> KafkaReply {
        let version = header.apiVersion
        if header.apiKey != ProduceRequest.apiKey { release() }
        switch header.apiKey {
        case ProduceRequest.apiKey:
            guard version >= 3 else {
                // v0-2 are advertised only because older librdkafka compresses nothing unless
                // Produce v0 is listed (as Kafka 4 does, KAFKA-18659); they carry old message
                // formats, so they are refused like any unsupported version.
                return .close(reason: "Produce v\(version) is not supported (RecordBatch v2 needs v3+)")
            }
            let request = try ProduceRequest(from: &body, version: version)
            guard let response = await produce(request, version: version, release: release, activity: connection.activity)
            else { return .none }
            return reply(header, response.encoded(version: version))
        case FetchRequest.apiKey:
            let request = try FetchRequest(from: &body, version: version)
            return reply(header, await fetch(request, version: version).encoded(version: version))
        case ListOffsetsRequest.apiKey:
            let request = try ListOffsetsRequest(from: &body, version: version)
            return reply(header, listOffsets(request, version: version).encoded(version: version))
        case MetadataRequest.apiKey:
            let request = try MetadataRequest(from: &body, version: version)
            return reply(header, metadata(request, version: version).encoded(version: version))
        case ApiVersionsRequest.apiKey:
            _ = try ApiVersionsRequest(from: &body, version: version)
            return reply(header, apiVersions(errorCode: .none).encoded(version: version))
        case CreateTopicsRequest.apiKey:
            let request = try CreateTopicsRequest(from: &body, version: version)
            return reply(header, createTopics(request, version: version).encoded(version: version))
        case DeleteTopicsRequest.apiKey:
            let request = try DeleteTopicsRequest(from: &body, version: version)
            return reply(header, await deleteTopics(request, version: version).encoded(version: version))
        case DescribeConfigsRequest.apiKey:
            let request = try DescribeConfigsRequest(from: &body, version: version)
            return reply(header, describeConfigs(request, version: version).encoded(version: version))
        case OffsetCommitRequest.apiKey:
            let request = try OffsetCommitRequest(from: &body, version: version)
            return reply(header, await offsetCommit(request, version: version).encoded(version: version))
        case OffsetFetchRequest.apiKey:
            let request = try OffsetFetchRequest(from: &body, version: version)
            return reply(header, offsetFetch(request, version: version).encoded(version: version))
        case SaslHandshakeRequest.apiKey:
            let request = try SaslHandshakeRequest(from: &body, version: version)
            return reply(header, saslHandshake(request, connection: connection).encoded(version: version))
        case SaslAuthenticateRequest.apiKey:
            let request = try SaslAuthenticateRequest(from: &body, version: version)
            let (response, ok) = saslAuthenticate(request, connection: connection)
            let answer = reply(header, response.encoded(version: version))
            guard ok, case .response(let bytes) = answer else {
                if case .response(let bytes) = answer { return .respondThenClose(bytes, reason: "SASL authentication failed") }
                return answer
            }
            return .response(bytes)
        case DeleteRecordsRequest.apiKey:
            let request = try DeleteRecordsRequest(from: &body, version: version)
            return reply(header, await deleteRecords(request, version: version).encoded(version: version))
        case InitProducerIdRequest.apiKey:
            let request = try InitProducerIdRequest(from: &body, version: version)
            return reply(header, initProducerId(request, version: version).encoded(version: version))
        case JoinGroupRequest.apiKey:
            let request = try JoinGroupRequest(from: &body, version: version)
            let response = await joinGroup(
                request, version: version, clientId: header.clientId ?? "",
                clientHost: Self.clientHost(connection.remoteAddress))
            return reply(header, response.encoded(version: version))
        case SyncGroupRequest.apiKey:
            let request = try SyncGroupRequest(from: &body, version: version)
            return reply(header, await syncGroup(request, version: version).encoded(version: version))
        case HeartbeatRequest.apiKey:
            let request = try HeartbeatRequest(from: &body, version: version)
            return reply(header, heartbeat(request, version: version).encoded(version: version))
        case LeaveGroupRequest.apiKey:
            let request = try LeaveGroupRequest(from: &body, version: version)
            return reply(header, leaveGroup(request, version: version).encoded(version: version))
        case ListGroupsRequest.apiKey:
            let request = try ListGroupsRequest(from: &body, version: version)
            return reply(header, listGroups(request, version: version).encoded(version: version))
        case DescribeGroupsRequest.apiKey:
            let request = try DescribeGroupsRequest(from: &body, version: version)
            return reply(header, describeGroups(request, version: version).encoded(version: version))
        case FindCoordinatorRequest.apiKey:
            let request = try FindCoordinatorRequest(from: &body, version: version)
            return reply(header, findCoordinator(request, version: version).encoded(version: version))
        default:
            return .close(reason: "unsupported API key \(header.apiKey)")
        }
    }

    /// Frames an encoded body with the response header its API and version call for.
    private func reply(_ header: Header, _ body: ByteBuffer) -> KafkaReply {
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + 8)
        out.writeInteger(header.correlationId)
        if ApiKeys.responseHeaderVersion(apiKey: header.apiKey, apiVersion: header.apiVersion) >= 1 {
            out.writeInteger(UInt8(0))  // no tagged fields
        }
        var body = body
        out.writeBuffer(&body)
        return .response(out)
    }

    /// The ApiVersions table.
    func apiVersions(errorCode: ErrorCode) -> ApiVersionsResponse {
        var response = ApiVersionsResponse()
        response.errorCode = errorCode.rawValue
        response.apiKeys = Self.supported.keys.sorted().map { key in
            var api = ApiVersionsResponse.ApiVersion()
            api.apiKey = key
            api.minVersion = Self.supported[key]!.lowerBound
            api.maxVersion = Self.supported[key]!.upperBound
            return api
        }
        return response
    }

    /// KIP-511: an ApiVersions request at a version the server does not know gets an
    /// UNSUPPORTED_VERSION answer in v0 format listing what is supported.
    private func unsupportedApiVersionsReply(_ header: Header) -> KafkaReply {
        var out = ByteBuffer()
        out.writeInteger(header.correlationId)
        apiVersions(errorCode: .unsupportedVersion).encode(to: &out, version: 0)
        return .response(out)
    }
}

extension LogStoreError {
    /// The Kafka error code a client should see for this failure.
    var kafkaErrorCode: ErrorCode {
        switch code {
        case .corruptMessage: .corruptMessage
        case .messageTooLarge: .messageTooLarge
        case .unsupportedCompression: .unsupportedCompressionType
        case .invalidRecord: .invalidRecord
        case .transactionsNotSupported: .invalidRecord
        case .invalidTopic: .invalidTopicException
        case .topicAlreadyExists: .topicAlreadyExists
        case .unknownTopicOrPartition: .unknownTopicOrPartition
        case .offsetOutOfRange: .offsetOutOfRange
        case .diskFull, .offline, .io: .kafkaStorageError
        case .closed: .notLeaderOrFollower
        case .invalidConfig: .invalidConfig
        case .outOfOrderSequence: .outOfOrderSequenceNumber
        case .duplicateSequence: .duplicateSequenceNumber
        case .invalidProducerEpoch: .invalidProducerEpoch
        default: .unknownServerError
        }
    }
}

/// A request the principal may not make.
struct AuthorizationFailure: Error {
    var code: ErrorCode
}

extension Error {
    /// The Kafka error code for any error a handler meets.
    var kafkaErrorCode: ErrorCode {
        if let failure = self as? AuthorizationFailure { return failure.code }
        return (self as? LogStoreError)?.kafkaErrorCode ?? .unknownServerError
    }
    /// The message a client sees: storage failures are described without the server's paths
    /// (those go to the server's log).
    var kafkaMessage: String {
        guard let error = self as? LogStoreError else { return "\(self)" }
        switch error.code {
        case .io: return "storage error on the hub; its log has the details"
        case .offline: return "the partition is offline after a storage failure; restarting the hub recovers it"
        default: return error.message
        }
    }

    /// Whether the server should log this failure (clients get only a summary).
    var isStorageFailure: Bool {
        guard let error = self as? LogStoreError else { return true }
        return error.code == .io || error.code == .offline
    }
}

/// Encoding any generated message to a fresh buffer.
protocol KafkaEncodable {
    func encode(to buffer: inout ByteBuffer, version: Int16)
}

extension KafkaEncodable {
    func encoded(version: Int16) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(to: &buffer, version: version)
        return buffer
    }
}

extension ProduceResponse: KafkaEncodable {}
extension FetchResponse: KafkaEncodable {}
extension ListOffsetsResponse: KafkaEncodable {}
extension MetadataResponse: KafkaEncodable {}
extension ApiVersionsResponse: KafkaEncodable {}
extension CreateTopicsResponse: KafkaEncodable {}
extension DeleteTopicsResponse: KafkaEncodable {}
extension DescribeConfigsResponse: KafkaEncodable {}
extension FindCoordinatorResponse: KafkaEncodable {}
extension OffsetCommitResponse: KafkaEncodable {}
extension OffsetFetchResponse: KafkaEncodable {}
extension InitProducerIdResponse: KafkaEncodable {}
extension DeleteRecordsResponse: KafkaEncodable {}
extension SaslHandshakeResponse: KafkaEncodable {}
extension SaslAuthenticateResponse: KafkaEncodable {}
extension JoinGroupResponse: KafkaEncodable {}
extension SyncGroupResponse: KafkaEncodable {}
extension HeartbeatResponse: KafkaEncodable {}
extension LeaveGroupResponse: KafkaEncodable {}
extension ListGroupsResponse: KafkaEncodable {}
extension DescribeGroupsResponse: KafkaEncodable {}
