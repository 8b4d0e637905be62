import HubProtocol
import LogStore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the broker answered to a produce.
public struct ProduceResult: Sendable, Hashable {
    /// The offset of the first record appended; -1 with acks=0 (no answer).
    public var baseOffset: Int64
    /// The partition's log start offset after the append; -1 when unknown.
    public var logStartOffset: Int64

    public init(baseOffset: Int64, logStartOffset: Int64) {
        self.baseOffset = baseOffset
        self.logStartOffset = logStartOffset
    }
}

extension HubClient {
    /// Appends record batches to one partition.
    /// - Parameters:
    ///   - records: one or more whole RecordBatch v2 batches (their base offsets are ignored).
    ///   - acks: 1 or -1 wait for the broker's acknowledgement; 0 returns once the request is
    ///     written, with offsets of -1.
    /// - Throws: `HubClientError`; `.broker` with the Kafka error code when the broker refuses.
    public func produce(topic: String, partition: Int32, records: ByteBuffer, acks: Int16 = -1) async throws
        -> ProduceResult
    {
        let version = try version(of: ProduceRequest.self)
        var request = ProduceRequest()
        request.acks = acks
        request.timeoutMs = timeoutMilliseconds
        request.topicData = [
            ProduceRequest.TopicProduceData(
                name: topic, partitionData: [ProduceRequest.PartitionProduceData(index: partition, records: records)])
        ]
        let sizeHint = records.readableBytes + topic.utf8.count + 64
        if acks == 0 {
            try await connection.sendWithoutResponse(request, version: version, sizeHint: sizeHint)
            return ProduceResult(baseOffset: -1, logStartOffset: -1)
        }
        let response = try await connection.send(request, version: version, sizeHint: sizeHint)
        guard
            let answer = response.responses.first(where: { $0.name == topic })?.partitionResponses
                .first(where: { $0.index == partition })
        else {
            throw HubClientError(.malformedResponse, "the produce response does not mention \(topic)-\(partition)")
        }
        if answer.errorCode != 0 {
            let detail = answer.errorMessage ?? answer.recordErrors.first?.batchIndexErrorMessage
            throw HubClientError.broker(
                ErrorCode(rawValue: answer.errorCode), "produce to \(topic)-\(partition)", message: detail)
        }
        return ProduceResult(baseOffset: answer.baseOffset, logStartOffset: answer.logStartOffset)
    }

    /// Builds one batch from `records` and appends it to one partition.
    /// - Parameter compression: `.none` or `.lz4`.
    public func produce(
        topic: String, partition: Int32, records: [ProducerRecord], compression: Compression = .none,
        acks: Int16 = -1
    ) async throws -> ProduceResult {
        try await produce(
            topic: topic, partition: partition, records: Self.makeBatch(records, compression: compression), acks: acks)
    }

    /// One RecordBatch v2 holding `records`, timestamps defaulting to now.
    /// - Throws: `.invalidArgument` for no records or a codec other than none and lz4.
    public static func makeBatch(_ records: [ProducerRecord], compression: Compression = .none) throws -> ByteBuffer {
        guard !records.isEmpty else { throw HubClientError(.invalidArgument, "a batch needs at least one record") }
        guard compression == .none || compression == .lz4 else {
            throw HubClientError(.invalidArgument, "\(compression) batches cannot be built: use none or lz4")
        }
        var builder = RecordBatchBuilder(compression: compression)
        let now = currentTimeMilliseconds()
        for record in records {
            builder.append(
                key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp ?? now)
        }
        do {
            return try builder.build()
        } catch {
            throw HubClientError(.invalidArgument, "cannot build the batch: \(error.message)")
        }
    }

    /// Milliseconds since the epoch (Kafka record timestamps).
    public static func currentTimeMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
