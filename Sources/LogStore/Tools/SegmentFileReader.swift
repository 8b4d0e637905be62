/// Reads the batches of one segment file with CRC checks, for tools (`hooklog dump`, `verify`).
public struct SegmentFileReader {
    /// One step through the file.
    public enum Entry {
        /// A valid batch at `position` and its bytes.
        case batch(position: Int, header: RecordBatchHeader, bytes: [UInt8])
        /// Bytes at `position` that are not a valid batch; reading stops here.
        case invalid(position: Int, reason: String)
    }

    public let path: String
    public let size: Int
    private var scanner: BatchScanner
    private var finished = false

    /// Opens `path` for reading.
    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        self.path = path
        let handle = try fileSystem.openFile(path, create: false)
        self.size = Int(try handle.size())
        self.scanner = BatchScanner(handle: handle, from: 0, to: size, checkCRC: true)
    }

    /// The next batch, the first invalid spot, or nil at a clean end.
    public mutating func next() throws -> Entry? {
        if finished { return nil }
        switch try scanner.next() {
        case .end:
            finished = true
            return nil
        case .invalid(let position, let reason):
            finished = true
            return .invalid(position: position, reason: reason)
        case .batch(let header, let position):
            return .batch(position: position, header: header, bytes: scanner.withCurrentBatch { Array($0) })
        }
    }
}
