import HubProtocol
import LogStore
import NIOCore

extension KafkaAPI {
    /// Fetch: whole batches from each partition's offset, up to the byte limits (the first
    /// batch always comes whole, KIP-74); when there are fewer than `minBytes`, waits on the
    /// partitions' high watermarks (no polling) until data arrives or `maxWaitMs` passes.
    func fetch(_ request: FetchRequest, version: Int16) async -> FetchResponse {
        let clock = ContinuousClock()
        let wait = min(Duration.milliseconds(max(0, Int64(request.maxWaitMs))), settings.maxFetchWait)
        let deadline = clock.now + wait
        var response = FetchResponse()
        if request.sessionId != 0 {
            // Hooklog never hands out fetch sessions, so a session id is not ours.
            response.errorCode = ErrorCode.fetchSessionIdNotFound.rawValue
            return response
        }
        while true {
            let (result, bytes, waitable) = readPartitions(request)
            response.responses = result
            if bytes >= Int(max(request.minBytes, 1)) || waitable.isEmpty || clock.now >= deadline {
                return response
            }
            let remaining = deadline - clock.now
            // Wake when any waited-on partition gets data past its fetch offset.
            await withTaskGroup(of: Void.self) { group in
                for (log, offset) in waitable {
                    group.addTask { await log.waitForHighWatermark(beyond: offset, timeout: remaining) }
                }
                await group.next()
                group.cancelAll()
            }
            if clock.now >= deadline {
                response.responses = readPartitions(request).0
                return response
            }
        }
    }

    /// One pass over the requested partitions. Returns the topic responses, the record bytes
    /// returned, and the partitions worth waiting on (no error, nothing to return yet).
    private func readPartitions(_ request: FetchRequest) -> ([FetchResponse.FetchableTopicResponse], Int, [(Log, Int64)]) {
        var budget = request.maxBytes > 0 ? Int(request.maxBytes) : Int(Int32.max)
        var total = 0
        var waitable: [(Log, Int64)] = []
        var topics: [FetchResponse.FetchableTopicResponse] = []
        for topic in request.topics {
            var topicResponse = FetchResponse.FetchableTopicResponse()
            topicResponse.topic = topic.topic
            topicResponse.topicId = topic.topicId
            for partition in topic.partitions {
                var data = FetchResponse.PartitionData()
                data.partitionIndex = partition.partition
                data.highWatermark = -1
                data.lastStableOffset = -1
                data.logStartOffset = -1
                data.preferredReadReplica = -1
                data.abortedTransactions = []
                do {
                    guard Self.may(.consume, topic: topic.topic) else {
                        throw AuthorizationFailure(code: .topicAuthorizationFailed)
                    }
                    let log = try logs.log(topic: topic.topic, partition: Int(partition.partition))
                    let limit = total == 0 ? max(1, min(Int(partition.partitionMaxBytes), budget)) : min(Int(partition.partitionMaxBytes), budget)
                    if limit > 0 {
                        let read = try log.read(from: partition.fetchOffset, maxBytes: limit)
                        data.records = read.records
                        data.highWatermark = read.highWatermark
                        data.lastStableOffset = read.highWatermark
                        data.logStartOffset = read.logStartOffset
                        total += read.records.readableBytes
                        budget -= read.records.readableBytes
                        if read.records.readableBytes == 0 { waitable.append((log, partition.fetchOffset)) }
                    } else {
                        data.highWatermark = log.highWatermark
                        data.lastStableOffset = data.highWatermark
                        data.logStartOffset = log.logStartOffset
                        data.records = ByteBuffer()
                    }
                } catch {
                    data.errorCode = error.kafkaErrorCode.rawValue
                    if error is AuthorizationFailure {
                        data.records = ByteBuffer()
                        topicResponse.partitions.append(data)
                        continue
                    }
                    if let log = try? logs.log(topic: topic.topic, partition: Int(partition.partition)) {
                        data.highWatermark = log.highWatermark
                        data.lastStableOffset = data.highWatermark
                        data.logStartOffset = log.logStartOffset
                    }
                    data.records = ByteBuffer()
                }
                topicResponse.partitions.append(data)
            }
            topics.append(topicResponse)
        }
        return (topics, total, waitable)
    }
}
