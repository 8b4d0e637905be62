/// What one ``Log/compact(_:progress:)`` call did (or, in a dry run, would do).
public struct CompactionReport: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public var dryRun: Bool
    /// Passes run (0 when nothing was dirty).
    public var passes = 0
    /// Closed segments and bytes of the whole log (active segment included) before and after.
    public var segmentsBefore = 0
    public var segmentsAfter = 0
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
    /// Records in the rewritten segments that were kept. After a full compaction, one per live
    /// key (plus the tombstones still inside `delete.retention.ms`).
    public var recordsKept: Int64 = 0
    /// Distinct keys seen in the dirty range (the map's entries, summed over passes).
    public var keysInDirtyRange: Int64 = 0
    /// Records removed because a later record has the same key.
    public var recordsRemoved: Int64 = 0
    /// Tombstones removed because they have been in the clean range for `delete.retention.ms`.
    public var tombstonesDropped: Int64 = 0
    /// Tombstones kept (latest for their key, still within `delete.retention.ms`).
    public var tombstonesKept: Int64 = 0
    /// Batches kept only because they are an idempotent producer's last (possibly emptied).
    public var producerBatchesRetained: Int64 = 0
    /// Bytes read (map building and rewriting) and written (cleaned segments).
    public var bytesScanned: Int64 = 0
    public var bytesWritten: Int64 = 0
    /// The cleaner checkpoint after the call: every offset below it is clean.
    public var cleanedUpTo: Int64 = 0
    /// Whether the whole dirty range is clean (false when `maxPasses` or a dry run stopped early).
    public var complete = true
    /// The largest map of any pass: entries used, and the bytes allocated for it (never more than
    /// ``CompactionOptions/mapBytes``).
    public var mapEntriesPeak = 0
    public var mapBytesAllocated = 0
    public var duration: Duration = .zero

    public init(topic: String, partition: Int, dryRun: Bool) {
        self.topic = topic
        self.partition = partition
        self.dryRun = dryRun
    }

    public var description: String {
        "\(topic)-\(partition): \(segmentsBefore) → \(segmentsAfter) segments, \(bytesBefore) → \(bytesAfter) bytes, "
            + "\(recordsKept) records kept, \(recordsRemoved) removed, \(tombstonesDropped) tombstones dropped, "
            + "\(passes) passes\(dryRun ? " (dry run)" : "")"
    }
}
