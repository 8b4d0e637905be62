import NIOCore

/// One segment of a partition: a `.log` file of batches plus its sparse `.index` and
/// `.timeindex`, all named by the segment's base offset.
///
/// Mutable state is changed only by the partition's writer and read by others, both while
/// holding the owning ``Log``'s lock; file reads at positions below ``readableSize`` need no lock
/// (those bytes never change).
final class Segment: @unchecked Sendable {
    let baseOffset: Int64
    let directory: String
    /// Appended to every file name: empty for a live segment, `.cleaned` for the cleaner's output.
    let suffix: String
    let log: any FileHandle
    let offsetIndex: OffsetIndex
    let timeIndex: TimeIndex
    private let fileSystem: any FileSystem

    /// Bytes written to the `.log` file.
    var size: Int
    /// Bytes below the high watermark: what readers may see.
    var readableSize: Int
    /// One past the last offset in the segment (the base offset while empty).
    var nextOffset: Int64
    /// Largest record timestamp in the segment (-1 while empty).
    var maxTimestamp: Int64 = -1
    var offsetOfMaxTimestamp: Int64 = -1
    /// When the first batch arrived (ms since the epoch), for `segment.ms` rolls.
    var rollReferenceTime: Int64?
    var bytesSinceIndexEntry = 0

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    var logPath: String { Path.join(directory, Self.fileName(baseOffset, ".log") + suffix) }
    var indexPath: String { Path.join(directory, Self.fileName(baseOffset, ".index") + suffix) }
    var timeIndexPath: String { Path.join(directory, Self.fileName(baseOffset, ".timeindex") + suffix) }

    /// Opens the segment at `baseOffset` in `directory`, creating its files if missing. The caller
    /// then either trusts the files (``restoreFromIndexes()``) or ``recover(truncate:)``s them.
    /// - Parameter active: give the indexes room for appends (up to `segment.index.bytes`); a
    ///   sealed segment maps only what its index files hold.
    /// - Parameter suffix: appended to the file names (the cleaner writes `.cleaned` segments).
    init(
        fileSystem: any FileSystem, directory: String, baseOffset: Int64, config: LogConfig, active: Bool,
        suffix: String = ""
    ) throws {
        self.fileSystem = fileSystem
        self.directory = directory
        self.baseOffset = baseOffset
        self.suffix = suffix
        self.log = try fileSystem.openFile(
            Path.join(directory, Self.fileName(baseOffset, ".log") + suffix), create: true)
        self.offsetIndex = try OffsetIndex(
            fileSystem: fileSystem, path: Path.join(directory, Self.fileName(baseOffset, ".index") + suffix),
            baseOffset: baseOffset, maxBytes: active ? config.segmentIndexBytes : 0)
        self.timeIndex = try TimeIndex(
            fileSystem: fileSystem, path: Path.join(directory, Self.fileName(baseOffset, ".timeindex") + suffix),
            baseOffset: baseOffset, maxBytes: active ? config.segmentIndexBytes : 0)
        self.size = Int(try log.size())
        self.readableSize = size
        self.nextOffset = baseOffset
    }

    // MARK: - Appending (writer only, under the log's lock)

    /// Records that the batch at `position` (`size` bytes, last offset `lastOffset`, newest
    /// timestamp `maxTimestamp`) has been written, adding index entries as the interval says.
    func didAppend(position: Int, size batchSize: Int, lastOffset: Int64, maxTimestamp batchMax: Int64, now: Int64, indexInterval: Int) {
        if rollReferenceTime == nil { rollReferenceTime = now }
        if batchMax > maxTimestamp {
            maxTimestamp = batchMax
            offsetOfMaxTimestamp = lastOffset
        }
        // A full index only makes lookups scan further; the writer rolls before that happens.
        if position > 0 && bytesSinceIndexEntry >= indexInterval && !indexesFull {
            offsetIndex.append(offset: lastOffset, position: position)
            timeIndex.maybeAppend(timestamp: maxTimestamp, offset: offsetOfMaxTimestamp)
            bytesSinceIndexEntry = 0
        }
        bytesSinceIndexEntry += batchSize
        size = position + batchSize
        nextOffset = lastOffset + 1
    }

    /// Whether one more index entry might not fit.
    var indexesFull: Bool { offsetIndex.isFull || timeIndex.isFull }

    // MARK: - Durability and lifecycle

    /// fdatasync of the log and msync of both indexes.
    func flush() throws {
        try log.sync()
        try offsetIndex.file.flush()
        try timeIndex.file.flush()
    }

    /// Seals a segment no reader can see (at open, in compaction's staging, in tools): the log
    /// file synced, then ``finishTimeIndex()`` and ``sealIndexes(underLock:)``.
    func seal() throws {
        try log.sync()
        finishTimeIndex()
        try sealIndexes()
    }

    /// The time index's last entry: the segment's newest timestamp (under the log's lock). Done
    /// when the segment stops taking appends, before ``sealIndexes(underLock:)``.
    func finishTimeIndex() {
        if maxTimestamp >= 0 && !timeIndex.isFull {
            timeIndex.maybeAppend(timestamp: maxTimestamp, offset: offsetOfMaxTimestamp, closing: true)
        }
    }

    /// Cuts the indexes of a segment that takes no more appends to their entries and syncs them,
    /// while readers go on: they are kept out only while `underLock` runs its body (the owning
    /// log runs it under its lock), which swaps in the trimmed mappings; msync, the new
    /// mappings, cutting the files and fdatasync happen outside. Without readers, the default
    /// runs the body directly.
    func sealIndexes(underLock: (() -> Void) -> Void = { $0() }) throws {
        let files = [offsetIndex.file, timeIndex.file]
        for file in files { try file.flush() }
        let trimmed = try files.map { try $0.mapUsed() }
        var previous: [MappedRegion?] = []
        underLock {
            previous = zip(files, trimmed).map { file, region in file.adopt(region) }
        }
        previous.removeAll()
        for file in files { try file.cutToUsed() }
        for file in files { try file.syncFile() }
    }

    /// Makes a sealed segment appendable again (the last segment of a reopened log).
    func unseal(config: LogConfig) throws {
        try offsetIndex.file.reopen(maxBytes: config.segmentIndexBytes)
        try timeIndex.file.reopen(maxBytes: config.segmentIndexBytes)
    }

    /// Removes the segment's files (open handles stay readable until released).
    func deleteFiles() throws {
        try fileSystem.removeFile(logPath)
        try fileSystem.removeFile(indexPath)
        try fileSystem.removeFile(timeIndexPath)
    }

    // MARK: - Opening

    /// Trusts the index files of a cleanly closed segment; falls back to a rebuild (without
    /// truncating) when they do not look consistent with the log.
    /// - Parameter truncateOnFailure: when the indexes do not fit and the re-read finds a bad
    ///   batch, cut it off (for the segment that will take appends).
    /// - Parameter rebuild: rebuild the indexes from the log whatever they hold (after a
    ///   compaction swap finished by recovery).
    func restoreFromIndexes(config: LogConfig, truncateOnFailure: Bool, rebuild: Bool = false) throws {
        guard size > 0 else { return }
        if rebuild || !offsetIndex.isConsistent(logSize: size) || !timeIndex.isConsistent() {
            try unseal(config: config)
            _ = try recover(truncate: truncateOnFailure, config: config)
            try seal()
            return
        }
        // The batch after the last index entry is at most an interval away: scan from there.
        let start = offsetIndex.entryCount > 0 ? offsetIndex.entry(offsetIndex.entryCount - 1).position : 0
        var scanner = BatchScanner(handle: log, from: start, to: size, checkCRC: false)
        var last: RecordBatchHeader?
        while case .batch(let header, _) = try scanner.next() { last = header }
        if let last { nextOffset = last.lastOffset + 1 }
        if let entry = timeIndex.last {
            maxTimestamp = entry.timestamp
            offsetOfMaxTimestamp = entry.offset
        }
        if let last, last.maxTimestamp > maxTimestamp {
            maxTimestamp = last.maxTimestamp
            offsetOfMaxTimestamp = last.lastOffset
        }
    }

    /// The result of re-reading a segment.
    struct RecoveryResult {
        /// Bytes cut from the end (0 when the segment was whole).
        var truncatedBytes: Int
        /// Why the first bad batch was bad.
        var reason: String?
    }

    /// Re-reads the whole segment, checking every batch's framing and CRC and that offsets grow,
    /// rebuilding both indexes. With `truncate`, cuts the file at the first bad batch.
    func recover(truncate: Bool, config: LogConfig, minimumOffset: Int64? = nil) throws -> RecoveryResult {
        offsetIndex.file.reset()
        timeIndex.file.reset()
        bytesSinceIndexEntry = 0
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
        nextOffset = baseOffset
        rollReferenceTime = nil
        let fileSize = Int(try log.size())
        size = 0
        var scanner = BatchScanner(handle: log, from: 0, to: fileSize, checkCRC: true)
        var expectedAtLeast = minimumOffset ?? baseOffset
        var reason: String?
        var validEnd = 0
        scan: while true {
            switch try scanner.next() {
            case .end:
                break scan
            case .invalid(let position, let why):
                reason = "\(logPath) at byte \(position): \(why)"
                break scan
            case .batch(let header, let position):
                guard header.baseOffset >= expectedAtLeast else {
                    reason = "\(logPath) at byte \(position): offset \(header.baseOffset) goes backwards"
                    break scan
                }
                guard header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                    reason = "\(logPath) at byte \(position): offset \(header.lastOffset) is beyond this segment's range"
                    break scan
                }
                didAppend(
                    position: position, size: header.totalSize, lastOffset: header.lastOffset,
                    maxTimestamp: header.maxTimestamp, now: header.maxTimestamp, indexInterval: config.indexIntervalBytes)
                expectedAtLeast = header.lastOffset + 1
                validEnd = position + header.totalSize
            }
        }
        // segment.ms counts from the first append of this run (batch timestamps are the
        // producers' and may be far in the past).
        rollReferenceTime = nil
        let cut = fileSize - validEnd
        if truncate && cut > 0 {
            try log.truncate(to: Int64(validEnd))
            try log.sync()
        }
        size = truncate ? validEnd : fileSize
        readableSize = validEnd
        return RecoveryResult(truncatedBytes: cut, reason: reason)
    }

    // MARK: - Reading (no lock: positions below readableSize are immutable)

    /// The position of the first batch at or after `start` whose last offset is ≥ `target`, or
    /// nil when no such batch lies below `limit`.
    func position(of target: Int64, from start: Int, limit: Int) throws -> Int? {
        var scanner = BatchScanner(handle: log, from: start, to: limit, checkCRC: false, chunkSize: 64 * 1024)
        while true {
            switch try scanner.next() {
            case .batch(let header, let position):
                if header.lastOffset >= target { return position }
            case .end, .invalid:
                return nil
            }
        }
    }

    /// Whole batches from `position`: as many as fit in `maxBytes`, but always at least one
    /// (a batch larger than `maxBytes` comes alone, as Kafka does), never past `limit`.
    func read(from position: Int, maxBytes: Int, limit: Int) throws -> ByteBuffer {
        let available = limit - position
        guard available > 0 else { return ByteBuffer() }
        var want = min(available, max(maxBytes, RecordBatchHeader.size))
        var buffer = ByteBuffer()
        for _ in 0..<2 {
            buffer = ByteBuffer()
            buffer.reserveCapacity(want)
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                try log.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: Int64(position))
            }
            _ = got
            // Keep whole batches only.
            var end = 0
            var firstBatchSize: Int?
            while buffer.readableBytes - end >= RecordBatchHeader.logOverhead {
                let length = Int(buffer.getInteger(at: end + RecordBatchHeader.Field.batchLength, as: Int32.self)!)
                let total = length + RecordBatchHeader.logOverhead
                if firstBatchSize == nil { firstBatchSize = total }
                if end + total > buffer.readableBytes { break }
                end += total
            }
            if end > 0 || firstBatchSize == nil {
                buffer.moveWriterIndex(to: end)
                return buffer
            }
            // The first batch is larger than maxBytes: read exactly that batch.
            want = min(available, firstBatchSize!)
        }
        return ByteBuffer()
    }
}
