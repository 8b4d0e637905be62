import HubProtocol
import LogStore
import Logging
import NIOCore

extension KafkaAPI {
    /// Produce: appends each partition's batches (partitions concurrently) and answers once the
    /// flush policy allows; nil for acks=0, which gets no response.
    /// - Parameter release: passed once every partition's append has its place in its log, so
    ///   the connection's next request can start appending.
    /// - Parameter activity: the connection's; a lone one-partition Produce may write on its
    ///   event loop (see ``LoopActivity``).
    func produce(
        _ request: ProduceRequest, version: Int16, release: GateRelease, activity: ConnectionActivity
    ) async -> ProduceResponse? {
        typealias PartitionResponse = ProduceResponse.PartitionProduceResponse
        struct Job: Sendable {
            var topicIndex: Int
            var partitionIndex: Int
            var topic: String
            var partition: Int32
            var records: ByteBuffer?
        }
        var refusal: (ErrorCode, String)?
        if request.transactionalId != nil {
            refusal = (.transactionalIdAuthorizationFailed, "transactions are not supported by Hooklog")
        } else if !Self.may(.produce) {
            refusal = (.topicAuthorizationFailed, "this API key lacks the produce role")
        } else if ![0, 1, -1].contains(request.acks) {
            refusal = (.invalidRequiredAcks, "acks must be 0, 1 or -1")
        }
        var jobs: [Job] = []
        for (t, topic) in request.topicData.enumerated() {
            for (p, partition) in topic.partitionData.enumerated() {
                jobs.append(
                    Job(topicIndex: t, partitionIndex: p, topic: topic.name, partition: partition.index,
                        records: partition.records))
            }
        }
        release.expect(refusal == nil ? jobs.count : 0)
        let results: [PartitionResponse?]
        if jobs.count == 1 {
            // The common case, one partition: appended on this task, without a child task (and
            // the two thread hops one costs).
            results = [
                await append(
                    jobs[0].topic, jobs[0].partition, jobs[0].records, refusal: refusal, release: release,
                    mayWriteHere: activity.isAlone)
            ]
        } else {
            results = await withTaskGroup(of: (Int, PartitionResponse).self) { group in
                for (i, job) in jobs.enumerated() {
                    let refusal = refusal
                    group.addTask {
                        (i, await self.append(job.topic, job.partition, job.records, refusal: refusal, release: release))
                    }
                }
                var results = [PartitionResponse?](repeating: nil, count: jobs.count)
                for await (i, response) in group { results[i] = response }
                return results
            }
        }
        if request.acks == 0 { return nil }
        var response = ProduceResponse()
        response.responses = request.topicData.map { topic in
            var entry = ProduceResponse.TopicProduceResponse()
            entry.name = topic.name
            return entry
        }
        for (job, result) in zip(jobs, results) {
            response.responses[job.topicIndex].partitionResponses.append(result!)
        }
        return response
    }

    /// Appends one partition's records and describes the outcome (or the refusal).
    private func append(
        _ topic: String, _ partition: Int32, _ records: ByteBuffer?, refusal: (ErrorCode, String)?, release: GateRelease,
        mayWriteHere: Bool = false
    ) async -> ProduceResponse.PartitionProduceResponse {
        var response = ProduceResponse.PartitionProduceResponse()
        response.index = partition
        response.baseOffset = -1
        response.logAppendTimeMs = -1
        response.logStartOffset = -1
        if let (code, message) = refusal {
            response.errorCode = code.rawValue
            response.errorMessage = message
            return response
        }
        var arrived = false
        defer { if !arrived { release.arrive() } }
        do {
            guard !TopicMetadata.isInternal(name: topic) else {
                throw LogStoreError(.unknownTopicOrPartition, "internal topics refuse produce")
            }
            let log = try logs.log(topic: topic, partition: Int(partition))
            guard let records, records.readableBytes > 0 else {
                throw LogStoreError(.corruptMessage, "no records")
            }
            arrived = true
            let result = try await log.append(records, onQueued: { release.arrive() }, callerMayWrite: mayWriteHere)
            response.baseOffset = result.baseOffset
            response.logStartOffset = result.logStartOffset
        } catch {
            if error.isStorageFailure {
                logger.error("produce failed", metadata: ["partition": "\(topic)-\(partition)", "error": "\(error)"])
            }
            response.errorCode = error.kafkaErrorCode.rawValue
            response.errorMessage = error.kafkaMessage
            if TopicMetadata.isInternal(name: topic) {
                response.errorCode = ErrorCode.topicAuthorizationFailed.rawValue
            }
        }
        return response
    }
}
