/// Walks the batches of a segment file from a position, reading in large chunks. Used by
/// recovery, verification, dumps, index rebuilds and offset/timestamp searches.
struct BatchScanner {
    enum Step {
        /// A batch at `position`; when the scan loads bodies its bytes are in ``currentBatch``.
        case batch(RecordBatchHeader, position: Int)
        /// A clean end: the position reached `end`.
        case end
        /// Something that is not a valid batch starts at `position`.
        case invalid(position: Int, reason: String)
    }

    private let handle: any FileHandle
    private let end: Int
    private(set) var position: Int
    private let checkCRC: Bool
    private var buffer: [UInt8]
    private var bufferStart = 0
    private var bufferCount = 0
    private var current: Range<Int> = 0..<0

    /// - Parameters:
    ///   - end: stop here (the file size, or the readable limit).
    ///   - checkCRC: load every batch whole and check its CRC; otherwise only headers are read.
    init(handle: any FileHandle, from position: Int, to end: Int, checkCRC: Bool, chunkSize: Int = 1 << 20) {
        self.handle = handle
        self.position = position
        self.end = end
        self.checkCRC = checkCRC
        self.buffer = [UInt8](repeating: 0, count: max(chunkSize, RecordBatchHeader.size))
    }

    /// Loads `[start, start + count)` into the buffer unless already there; false when the file
    /// ends first.
    private mutating func ensure(_ start: Int, _ count: Int) throws -> Bool {
        if start >= bufferStart && start + count <= bufferStart + bufferCount { return true }
        if count > buffer.count { buffer = [UInt8](repeating: 0, count: count) }
        let want = min(buffer.count, end - start)
        guard want >= count else { return false }
        let got = try buffer.withUnsafeMutableBytes { raw in
            try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: Int64(start))
        }
        bufferStart = start
        bufferCount = got
        return got >= count
    }

    /// The next batch, the end, or the first invalid spot.
    mutating func next() throws -> Step {
        if position >= end { return .end }
        guard try ensure(position, RecordBatchHeader.size) else {
            return .invalid(position: position, reason: "truncated batch header (\(end - position) bytes left)")
        }
        let headerStart = position - bufferStart
        let header = buffer.withUnsafeBytes {
            RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[headerStart..<headerStart + RecordBatchHeader.size]))!
        }
        guard header.batchLength >= RecordBatchHeader.minimumBatchLength, header.magic == 2,
            header.lastOffsetDelta >= 0
        else {
            return .invalid(
                position: position,
                reason: "not a v2 batch (length \(header.batchLength), magic \(header.magic))")
        }
        guard header.totalSize <= end - position else {
            return .invalid(
                position: position,
                reason: "batch of \(header.totalSize) bytes truncated at \(end - position) bytes")
        }
        if checkCRC {
            guard try ensure(position, header.totalSize) else {
                return .invalid(position: position, reason: "batch truncated")
            }
            let start = position - bufferStart
            let crc = buffer.withUnsafeBytes {
                RecordBatchHeader.computeCRC(of: UnsafeRawBufferPointer(rebasing: $0[start..<start + header.totalSize]))
            }
            guard crc == header.crc else {
                return .invalid(
                    position: position,
                    reason: "CRC mismatch (stored \(RecordBatch.hex(header.crc)), computed \(RecordBatch.hex(crc)))")
            }
            current = start..<start + header.totalSize
        }
        let batchPosition = position
        position += header.totalSize
        return .batch(header, position: batchPosition)
    }

    /// The bytes of the batch last returned by ``next()`` (only when scanning with CRC checks).
    func withCurrentBatch<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[current])) }
    }
}
