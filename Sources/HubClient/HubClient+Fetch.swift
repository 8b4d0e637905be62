import HubProtocol
import LogStore
import NIOCore

/// What a fetch returned for one partition.
public struct FetchResult: Sendable {
    public var partition: Int32
    /// The offset asked for.
    public var fetchOffset: Int64
    /// `.none`, or why nothing was read (e.g. OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION).
    public var error: ErrorCode
    /// Whole RecordBatch v2 batches; the first may begin before `fetchOffset`.
    public var records: ByteBuffer
    /// The offset after the last readable record; -1 when unknown.
    public var highWatermark: Int64
    /// The first offset still in the log; -1 when unknown.
    public var logStartOffset: Int64

    public init(
        partition: Int32, fetchOffset: Int64, error: ErrorCode, records: ByteBuffer, highWatermark: Int64,
        logStartOffset: Int64
    ) {
        self.partition = partition
        self.fetchOffset = fetchOffset
        self.error = error
        self.records = records
        self.highWatermark = highWatermark
        self.logStartOffset = logStartOffset
    }

    /// Where the next fetch should start: past the last whole batch returned, or `fetchOffset`
    /// when there was none.
    public var nextOffset: Int64 {
        var next = fetchOffset
        records.withUnsafeReadableBytes { bytes in
            var position = 0
            while let header = RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: bytes[position...])),
                header.batchLength >= RecordBatchHeader.minimumBatchLength,
                header.totalSize <= bytes.count - position
            {
                next = max(next, header.lastOffset + 1)
                position += header.totalSize
            }
        }
        return next
    }

    /// Decodes the records at or after `fetchOffset` (control batches are skipped; a truncated
    /// last batch is ignored, as Kafka clients do).
    /// - Throws: `.invalidRecords` for a bad CRC or an unsupported codec.
    public func decodeRecords() throws -> [Record] {
        do {
            return try records.withUnsafeReadableBytes { (bytes) throws(LogStoreError) -> [Record] in
                var result: [Record] = []
                var position = 0
                while let header = RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: bytes[position...])),
                    header.batchLength >= RecordBatchHeader.minimumBatchLength,
                    header.totalSize <= bytes.count - position
                {
                    let batch = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + header.totalSize)])
                    position += header.totalSize
                    if header.isControl || header.lastOffset < fetchOffset { continue }
                    for record in try RecordBatch.decode(batch) where record.offset >= fetchOffset {
                        result.append(record)
                    }
                }
                return result
            }
        } catch {
            throw HubClientError(.invalidRecords, "partition \(partition) at offset \(fetchOffset): \(error.message)")
        }
    }
}

/// Records fetched from one partition, decoded.
public struct FetchedRecords: Sendable {
    /// The records at or after the offset asked for, in offset order.
    public var records: [Record]
    /// Where the next fetch should start.
    public var nextOffset: Int64
    public var highWatermark: Int64
    public var logStartOffset: Int64
}

extension HubClient {
    /// Reads one partition from `offset`: whole batches, up to `maxBytes` (the first batch comes
    /// whole even when larger). With no data yet the broker waits up to `maxWait` for at least
    /// `minBytes` (long poll).
    /// - Returns: the records and the partition's error code, offsets and watermarks.
    /// - Throws: `HubClientError` for connection or request-level failures.
    public func fetch(
        topic: String, partition: Int32, offset: Int64, maxBytes: Int32 = 1 << 20,
        maxWait: Duration = .milliseconds(500),
        minBytes: Int32 = 1
    ) async throws -> FetchResult {
        let results = try await fetch(
            topic: topic, offsets: [partition: offset], maxBytes: maxBytes, maxWait: maxWait, minBytes: minBytes)
        guard let result = results.first else {
            throw HubClientError(.malformedResponse, "the fetch response does not mention \(topic)-\(partition)")
        }
        return result
    }

    /// Reads several partitions of a topic in one request, each from its own offset.
    /// - Parameters:
    ///   - offsets: partition → offset to read from.
    ///   - maxBytes: limit per partition and for the whole response.
    /// - Returns: one result per partition asked for, in partition order.
    public func fetch(
        topic: String, offsets: [Int32: Int64], maxBytes: Int32 = 1 << 20, maxWait: Duration = .milliseconds(500),
        minBytes: Int32 = 1
    ) async throws -> [FetchResult] {
        let partitions = offsets.keys.sorted()
        var request = FetchRequest()
        request.replicaId = -1
        request.maxWaitMs = Int32(
            clamping: maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000)
        request.minBytes = minBytes
        request.maxBytes = maxBytes
        request.isolationLevel = 0
        request.sessionId = 0
        request.sessionEpoch = -1
        request.topics = [
            FetchRequest.FetchTopic(
                topic: topic,
                partitions: partitions.map {
                    FetchRequest.FetchPartition(partition: $0, fetchOffset: offsets[$0]!, partitionMaxBytes: maxBytes)
                })
        ]
        let response = try await send(request, extraTimeout: maxWait)
        if response.errorCode != 0 {
            throw HubClientError.broker(ErrorCode(rawValue: response.errorCode), "fetch from \(topic)")
        }
        let answers = response.responses.filter { $0.topic == topic }.flatMap(\.partitions)
        return try partitions.map { partition in
            guard let data = answers.first(where: { $0.partitionIndex == partition }) else {
                throw HubClientError(.malformedResponse, "the fetch response does not mention \(topic)-\(partition)")
            }
            return FetchResult(
                partition: partition, fetchOffset: offsets[partition]!, error: ErrorCode(rawValue: data.errorCode),
                records: data.records ?? ByteBuffer(), highWatermark: data.highWatermark,
                logStartOffset: data.logStartOffset)
        }
    }

    /// Fetches one partition and decodes its records, dropping those before `offset`.
    /// - Throws: `.broker` with the partition's Kafka error code (e.g. OFFSET_OUT_OF_RANGE).
    public func fetchRecords(
        topic: String, partition: Int32, offset: Int64, maxBytes: Int32 = 1 << 20,
        maxWait: Duration = .milliseconds(500), minBytes: Int32 = 1
    ) async throws -> FetchedRecords {
        let result = try await fetch(
            topic: topic, partition: partition, offset: offset, maxBytes: maxBytes, maxWait: maxWait, minBytes: minBytes
        )
        if result.error != .none {
            var context = "fetch from \(topic)-\(partition) at offset \(offset)"
            if result.error == .offsetOutOfRange, result.logStartOffset >= 0, result.highWatermark >= 0 {
                context += " (the log holds \(result.logStartOffset)..<\(result.highWatermark))"
            }
            throw HubClientError.broker(result.error, context)
        }
        return FetchedRecords(
            records: try result.decodeRecords(), nextOffset: result.nextOffset, highWatermark: result.highWatermark,
            logStartOffset: result.logStartOffset)
    }
}
