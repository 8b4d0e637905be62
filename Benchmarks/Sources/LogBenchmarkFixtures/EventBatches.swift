import LogStore
import NIOCore

/// Record batches built once, before anything is measured: the measured loops only hand them to
/// the log, so no per-record work happens there besides what the log itself does.
public struct EventBatches: Sendable {
    /// Records per batch and value size of every record.
    public static let recordsPerBatch = 100
    public static let valueBytes = 256

    /// Distinct batches (one per appender, so concurrent appenders do not share a buffer).
    public let batches: [ByteBuffer]
    /// Size of one batch as stored in the log (all batches are the same size).
    public let batchBytes: Int

    /// Builds `count` uncompressed batches of ``recordsPerBatch`` records with ``valueBytes``-byte
    /// random values and no key.
    public init(count: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let now = wallClockMilliseconds()
        var batches: [ByteBuffer] = []
        for _ in 0..<count {
            var builder = RecordBatchBuilder(compression: .none)
            for _ in 0..<Self.recordsPerBatch {
                let value = (0..<Self.valueBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
                builder.append(key: nil, value: value, timestamp: now)
            }
            batches.append(try builder.build())
        }
        self.batches = batches
        self.batchBytes = batches[0].readableBytes
        precondition(batches.allSatisfy { $0.readableBytes == batchBytes })
    }

    /// Value bytes (records × value size) in `appends` batches: the "MB/s" of the issue.
    public static func valueBytes(appends: Int) -> Int { appends * recordsPerBatch * valueBytes }
}
