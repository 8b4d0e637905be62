/// The small file-system interface all LogStore I/O goes through, so tests can inject faults
/// (lost power, failed fsync, a full disk) underneath a real log.
public protocol FileSystem: Sendable {
    /// Opens (and with `create`, creates) a regular file for reading and writing.
    func openFile(_ path: String, create: Bool) throws(LogStoreError) -> any FileHandle
    /// Creates a directory; succeeds when it already exists.
    func createDirectory(_ path: String) throws(LogStoreError)
    /// Names (not paths) of the entries of a directory.
    func contentsOfDirectory(_ path: String) throws(LogStoreError) -> [String]
    func fileExists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// Atomically renames `from` to `to`, replacing `to`. Durable only after ``syncDirectory(_:)``.
    func rename(_ from: String, to: String) throws(LogStoreError)
    func removeFile(_ path: String) throws(LogStoreError)
    /// Removes an empty directory.
    func removeDirectory(_ path: String) throws(LogStoreError)
    /// fsyncs a directory, making creations, renames and removals in it durable.
    func syncDirectory(_ path: String) throws(LogStoreError)
    /// Bytes available to an unprivileged writer on the file system holding `path`.
    func availableBytes(at path: String) throws(LogStoreError) -> Int64
    /// Takes an exclusive, non-blocking lock on `path` (created if missing), held until the
    /// returned handle is released.
    /// - Throws: `dataDirectoryLocked` when another process holds it.
    func lockFile(_ path: String) throws(LogStoreError) -> any FileHandle
}

/// An open file. Closed when the last reference goes away, so a reader that still holds a
/// segment whose files were deleted keeps reading valid data.
public protocol FileHandle: AnyObject, Sendable {
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns how many (fewer only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(LogStoreError) -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(LogStoreError)
    func size() throws(LogStoreError) -> Int64
    func truncate(to size: Int64) throws(LogStoreError)
    /// Reserves disk blocks up to `size` (so writes through a mapping cannot hit a full disk).
    func allocate(size: Int64) throws(LogStoreError)
    /// fdatasync: every byte written so far survives power loss once this returns.
    func sync() throws(LogStoreError)
    /// Maps the first `length` bytes shared and writable.
    func map(length: Int) throws(LogStoreError) -> MappedRegion
    /// msync of a mapping of this file: its bytes survive power loss once this returns.
    func syncMapped(_ region: MappedRegion) throws(LogStoreError)
    /// The descriptor, for zero-copy transfers to a socket.
    var descriptor: Int32 { get }
}

/// A shared, writable memory mapping of a file; unmapped when released. Access is serialized
/// by its owner (an index, under its log's lock).
public final class MappedRegion: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let length: Int
    private let unmap: @Sendable (UnsafeMutableRawPointer, Int) -> Void

    public init(
        pointer: UnsafeMutableRawPointer, length: Int, unmap: @escaping @Sendable (UnsafeMutableRawPointer, Int) -> Void
    ) {
        self.pointer = pointer
        self.length = length
        self.unmap = unmap
    }

    deinit { unmap(pointer, length) }
}

extension FileHandle {
    /// Reads exactly `count` bytes at `offset` into a new array.
    /// - Throws: `io` when the file is shorter.
    func readExactly(count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { raw in try read(into: raw, at: offset) }
        guard got == count else {
            throw LogStoreError(.io, "\(path): short read (\(got) of \(count) bytes at \(offset))")
        }
        return bytes
    }
}

extension FileSystem {
    /// Writes `contents` to `path` crash-safely: a temporary file, fdatasync, rename over `path`,
    /// then a directory fsync.
    public func writeAtomically(_ contents: [UInt8], to path: String) throws {
        // A short name: `path` itself may already be near the 255-byte name limit.
        let temporary = Path.join(Path.parent(of: path), Path.temporaryPrefix + String(UInt32.random(in: 0...UInt32.max), radix: 16))
        let handle = try openFile(temporary, create: true)
        try handle.truncate(to: 0)
        try contents.withUnsafeBytes { raw in try handle.write(raw, at: 0) }
        try handle.sync()
        try rename(temporary, to: path)
        try syncDirectory(Path.parent(of: path))
    }

    /// The whole contents of a file.
    func readContents(of path: String) throws -> [UInt8] {
        let handle = try openFile(path, create: false)
        return try handle.readExactly(count: Int(try handle.size()), at: 0)
    }
}

/// Small path helpers (paths are plain strings joined with "/").
enum Path {
    /// Names of temporary files (left behind only by a crash, and removed on open).
    static let temporaryPrefix = ".tmp-"

    static func join(_ parts: String...) -> String { parts.joined(separator: "/") }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
