import Foundation

/// Idempotent producers' state for one partition: per producer id, its epoch and its last five
/// batches' sequence ranges with the offsets they got, as Kafka keeps. An exact retry of one of
/// those batches gets its original offsets back without a second write; a gap in the sequence
/// is refused.
struct ProducerStateTable: Sendable, Codable, Equatable {
    /// How many batches per producer are remembered (Kafka's max in-flight requests with
    /// idempotence).
    static let rememberedBatches = 5

    struct BatchEntry: Sendable, Codable, Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var firstOffset: Int64
        var lastOffset: Int64
    }

    struct Producer: Sendable, Codable, Equatable {
        var epoch: Int16
        var batches: [BatchEntry]
    }

    /// What to do with a batch.
    enum Decision: Equatable {
        /// Not idempotent, or next in sequence: append it.
        case append
        /// An exact retry of a batch already in the log.
        case duplicate(firstOffset: Int64, lastOffset: Int64)
        case refuse(LogStoreError)
    }

    var producers: [Int64: Producer] = [:]

    /// The sequence of the batch's last record (sequences wrap from Int32.max to 0).
    static func lastSequence(base: Int32, lastOffsetDelta: Int32) -> Int32 {
        let sum = Int64(base) + Int64(lastOffsetDelta)
        return Int32(sum > Int64(Int32.max) ? sum - Int64(Int32.max) - 1 : sum)
    }

    func decide(producerId: Int64, epoch: Int16, baseSequence: Int32, lastOffsetDelta: Int32) -> Decision {
        guard producerId >= 0, baseSequence >= 0 else { return .append }
        guard let producer = producers[producerId] else {
            // A producer we do not know (new, or its state is gone): accept where it starts.
            return .append
        }
        if epoch < producer.epoch {
            return .refuse(
                LogStoreError(
                    .invalidProducerEpoch,
                    "producer \(producerId) epoch \(epoch) is older than the current epoch \(producer.epoch) (fenced)"))
        }
        if epoch > producer.epoch {
            guard baseSequence == 0 else {
                return .refuse(
                    LogStoreError(
                        .outOfOrderSequence,
                        "producer \(producerId) started epoch \(epoch) at sequence \(baseSequence), not 0"))
            }
            return .append
        }
        let last = Self.lastSequence(base: baseSequence, lastOffsetDelta: lastOffsetDelta)
        if let retry = producer.batches.first(where: { $0.firstSequence == baseSequence && $0.lastSequence == last }) {
            return .duplicate(firstOffset: retry.firstOffset, lastOffset: retry.lastOffset)
        }
        if let newest = producer.batches.last {
            let expected = newest.lastSequence == Int32.max ? 0 : newest.lastSequence + 1
            if baseSequence != expected {
                return .refuse(
                    LogStoreError(
                        .outOfOrderSequence,
                        "producer \(producerId) sent sequence \(baseSequence), expected \(expected)"))
            }
        }
        return .append
    }

    /// Records an appended batch.
    mutating func record(producerId: Int64, epoch: Int16, baseSequence: Int32, lastOffsetDelta: Int32, firstOffset: Int64) {
        guard producerId >= 0, baseSequence >= 0 else { return }
        let entry = BatchEntry(
            firstSequence: baseSequence, lastSequence: Self.lastSequence(base: baseSequence, lastOffsetDelta: lastOffsetDelta),
            firstOffset: firstOffset, lastOffset: firstOffset + Int64(lastOffsetDelta))
        var producer = producers[producerId] ?? Producer(epoch: epoch, batches: [])
        if epoch != producer.epoch {
            producer = Producer(epoch: epoch, batches: [])
        }
        producer.batches.append(entry)
        if producer.batches.count > Self.rememberedBatches { producer.batches.removeFirst() }
        producers[producerId] = producer
    }

    /// The table as it was before `offset`: batches at or after it are forgotten (a producer
    /// left with none is forgotten too).
    func truncated(before offset: Int64) -> ProducerStateTable {
        var copy = self
        for (id, producer) in producers {
            let kept = producer.batches.filter { $0.firstOffset < offset }
            if kept.isEmpty {
                copy.producers.removeValue(forKey: id)
            } else if kept.count != producer.batches.count {
                copy.producers[id]?.batches = kept
            }
        }
        return copy
    }

    /// Records a batch read back from the log (recovery), by its header.
    mutating func record(_ header: RecordBatchHeader) {
        record(
            producerId: header.producerId, epoch: header.producerEpoch, baseSequence: header.baseSequence,
            lastOffsetDelta: header.lastOffsetDelta, firstOffset: header.baseOffset)
    }
}

/// The on-disk snapshot of a partition's producer state: the table as of `offset` (every batch
/// below it is included). Written with the checkpoint; recovery replays batches from `offset`.
struct ProducerStateSnapshot: Codable {
    static let fileName = "producer-state.json"
    var offset: Int64
    var table: ProducerStateTable

    static func read(fileSystem: any FileSystem, directory: String) -> ProducerStateSnapshot? {
        let path = Path.join(directory, fileName)
        guard fileSystem.fileExists(path), let bytes = try? fileSystem.readContents(of: path) else { return nil }
        return try? JSONDecoder().decode(ProducerStateSnapshot.self, from: Data(bytes))
    }

    func write(fileSystem: any FileSystem, directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try fileSystem.writeAtomically(Array(try encoder.encode(self)), to: Path.join(directory, Self.fileName))
    }
}
