import Foundation
import NIOCore
import Synchronization

@testable import LogStore

/// A clock tests move by hand (milliseconds since the epoch).
final class ManualClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_700_000_000_000) { value = Mutex(start) }
    var now: Int64 { value.withLock { $0 } }
    func advance(by milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

/// A value behind a lock, shareable between tasks.
final class LockedBox<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}

/// SplitMix64: a small seeded generator, so a failing run can be repeated from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a compacted log should look like: every record appended, by offset.
struct CompactionModel {
    struct Entry: Equatable {
        var key: String
        var value: String?
        var timestamp: Int64
    }

    var entries: [Int64: Entry] = [:]
    /// (cleaned up to, time) of every pass that swapped something in, oldest first.
    var cleanHistory: [(offset: Int64, time: Int64)] = []

    mutating func record(_ batch: ByteBuffer, at base: Int64) throws {
        for record in try Batches.records(batch) {
            entries[base + record.offset] = Entry(
                key: String(decoding: record.key ?? [], as: UTF8.self),
                value: record.value.map { String(decoding: $0, as: UTF8.self) }, timestamp: record.timestamp)
        }
    }

    /// The latest offset of each key below `end`.
    func latest(below end: Int64 = .max) -> [String: Int64] {
        var latest: [String: Int64] = [:]
        for (offset, entry) in entries where offset < end {
            if let known = latest[entry.key], known > offset { continue }
            latest[entry.key] = offset
        }
        return latest
    }

    /// Tombstones below this offset must be gone at `now`.
    func tombstoneHorizon(now: Int64, retention: Int64) -> Int64 {
        cleanHistory.last(where: { $0.time <= now - retention })?.offset ?? 0
    }
}

enum CompactionFixtures {
    /// A batch of keyed records (nil value = tombstone).
    static func batch(
        _ records: [(key: String, value: String?)], timestamp: Int64, compression: Compression = .none,
        producer: (id: Int64, epoch: Int16, sequence: Int32)? = nil
    ) -> ByteBuffer {
        var builder = RecordBatchBuilder(
            compression: compression, producerId: producer?.id ?? -1, producerEpoch: producer?.epoch ?? -1,
            baseSequence: producer?.sequence ?? -1)
        for (i, record) in records.enumerated() {
            builder.append(
                key: Array(record.key.utf8), value: record.value.map { Array($0.utf8) },
                headers: [RecordHeader(key: "h", value: Array("\(i)".utf8))], timestamp: timestamp + Int64(i))
        }
        return try! builder.build()
    }

    /// Every record from the log start to the high watermark, with the raw bytes of the batches
    /// read (batches with no records, kept for a producer's state, are stepped over).
    static func readAll(_ log: Log) throws -> (records: [Record], batches: [RecordBatchHeader]) {
        var records: [Record] = []
        var headers: [RecordBatchHeader] = []
        var offset = log.logStartOffset
        while offset < log.highWatermark {
            let result = try log.read(from: offset, maxBytes: 1 << 16)
            var bytes = result.records
            guard bytes.readableBytes > 0 else { break }
            while bytes.readableBytes >= RecordBatchHeader.size {
                let header = bytes.withUnsafeReadableBytes { RecordBatchHeader(parsing: $0)! }
                let batch = bytes.readSlice(length: header.totalSize)!
                headers.append(header)
                for record in try batch.withUnsafeReadableBytes({ try RecordBatch.decode($0) }) where record.offset >= offset {
                    records.append(record)
                }
                offset = max(offset, header.lastOffset + 1)
            }
        }
        return (records, headers)
    }

    static func configuration(
        _ directory: String, segmentBytes: Int = 1024, clock: ManualClock, fileSystem: any FileSystem = PosixFileSystem()
    ) -> LogManager.Configuration {
        var configuration = LogManager.Configuration.small(directory, segmentBytes: segmentBytes, fileSystem: fileSystem)
        configuration.defaultTopicConfig.flushPolicy = .never
        configuration.options.clock = { clock.now }
        return configuration
    }
}
