/// How one ``Log/compact(_:progress:)`` call runs.
public struct CompactionOptions: Sendable {
    /// Memory for the key → latest-offset map of one pass, in bytes (each key takes 24 bytes of
    /// slot, filled to 75 %). When the dirty range has more distinct keys than fit, a pass cleans
    /// up to where the map filled and the next pass continues from there.
    public var mapBytes: Int = 64 << 20
    /// Passes at most (nil: until the whole dirty range is clean). The background cleaner runs
    /// one pass per turn.
    public var maxPasses: Int?
    /// Compute the report without writing or swapping anything (only the first pass).
    public var dryRun = false
    /// Caps the cleaner's reads plus writes (shared between logs when the same throttle is given
    /// to several calls); nil: unthrottled.
    public var throttle: IOThrottle?
    /// Compaction stops (and leaves the log as it was) rather than let free space drop below
    /// this while it writes cleaned segments.
    public var minFreeBytes: Int64?

    public init(
        mapBytes: Int = 64 << 20, maxPasses: Int? = nil, dryRun: Bool = false, throttle: IOThrottle? = nil,
        minFreeBytes: Int64? = nil
    ) {
        self.mapBytes = mapBytes
        self.maxPasses = maxPasses
        self.dryRun = dryRun
        self.throttle = throttle
        self.minFreeBytes = minFreeBytes
    }
}

/// Where a compaction is, for progress bars.
public struct CompactionProgress: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable {
        /// Reading the dirty range into the key → offset map.
        case mapping
        /// Rewriting closed segments.
        case rewriting
        /// Swapping the cleaned segments in.
        case swapping
    }

    public var phase: Phase
    /// 1 for the first pass.
    public var pass: Int
    /// Bytes read so far in this call (both phases, every pass).
    public var bytesScanned: Int64
    /// What this call expects to read in total: earlier passes' reads plus this pass's dirty
    /// range and the segments it rewrites (the rewrite part is known once the map is built).
    public var bytesToScan: Int64
    /// Bytes of cleaned segments written so far in this call.
    public var bytesWritten: Int64
}
