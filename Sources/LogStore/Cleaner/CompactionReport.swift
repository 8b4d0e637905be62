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

/// The JSON of `POST /admin/topics/{topic}/compact` (and what `hooklog compact --url` reads back):
/// the summary fields, with `duration` as `durationMs`. Fields not in it decode to their defaults.
extension CompactionReport: Codable {
    private enum CodingKeys: String, CodingKey {
        case topic, partition, dryRun, complete, passes, segmentsBefore, segmentsAfter, bytesBefore, bytesAfter
        case recordsKept, recordsRemoved, tombstonesDropped, bytesScanned, bytesWritten, durationMs
    }

    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            topic: try fields.decode(String.self, forKey: .topic), partition: try fields.decode(Int.self, forKey: .partition),
            dryRun: try fields.decode(Bool.self, forKey: .dryRun))
        complete = try fields.decode(Bool.self, forKey: .complete)
        passes = try fields.decode(Int.self, forKey: .passes)
        segmentsBefore = try fields.decode(Int.self, forKey: .segmentsBefore)
        segmentsAfter = try fields.decode(Int.self, forKey: .segmentsAfter)
        bytesBefore = try fields.decode(Int64.self, forKey: .bytesBefore)
        bytesAfter = try fields.decode(Int64.self, forKey: .bytesAfter)
        recordsKept = try fields.decode(Int64.self, forKey: .recordsKept)
        recordsRemoved = try fields.decode(Int64.self, forKey: .recordsRemoved)
        tombstonesDropped = try fields.decode(Int64.self, forKey: .tombstonesDropped)
        bytesScanned = try fields.decode(Int64.self, forKey: .bytesScanned)
        bytesWritten = try fields.decode(Int64.self, forKey: .bytesWritten)
        duration = .milliseconds(try fields.decode(Double.self, forKey: .durationMs))
    }

    public func encode(to encoder: any Encoder) throws {
        var fields = encoder.container(keyedBy: CodingKeys.self)
        try fields.encode(topic, forKey: .topic)
        try fields.encode(partition, forKey: .partition)
        try fields.encode(dryRun, forKey: .dryRun)
        try fields.encode(complete, forKey: .complete)
        try fields.encode(passes, forKey: .passes)
        try fields.encode(segmentsBefore, forKey: .segmentsBefore)
        try fields.encode(segmentsAfter, forKey: .segmentsAfter)
        try fields.encode(bytesBefore, forKey: .bytesBefore)
        try fields.encode(bytesAfter, forKey: .bytesAfter)
        try fields.encode(recordsKept, forKey: .recordsKept)
        try fields.encode(recordsRemoved, forKey: .recordsRemoved)
        try fields.encode(tombstonesDropped, forKey: .tombstonesDropped)
        try fields.encode(bytesScanned, forKey: .bytesScanned)
        try fields.encode(bytesWritten, forKey: .bytesWritten)
        let parts = duration.components
        try fields.encode(Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15, forKey: .durationMs)
    }
}
