import LogStore
import Synchronization

/// A ``FileSystem`` that forwards everything to ``PosixFileSystem`` and counts `sync()` calls on
/// its files (fdatasync, with the time spent in them), writes and directory syncs, to measure how
/// many appends share one fdatasync and how much of the time the writer waits in fdatasync.
public struct CountingFileSystem: FileSystem {
    /// The counters, shared by every handle the file system opened.
    public final class Counters: Sendable {
        let fileSyncs = Atomic<Int>(0)
        let fileSyncNanoseconds = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
        let writtenBytes = Atomic<Int>(0)
        let writeNanoseconds = Atomic<Int>(0)
        let directorySyncs = Atomic<Int>(0)

        /// fdatasync calls so far (`FileHandle.sync()`).
        public var fileSyncCount: Int { fileSyncs.load(ordering: .relaxed) }
        /// Time spent inside those fdatasync calls.
        public var fileSyncTime: Duration { .nanoseconds(fileSyncNanoseconds.load(ordering: .relaxed)) }
        /// `FileHandle.write` calls (pwrite) and their bytes.
        public var writeCount: Int { writes.load(ordering: .relaxed) }
        public var writtenByteCount: Int { writtenBytes.load(ordering: .relaxed) }
        /// Time spent inside those writes.
        public var writeTime: Duration { .nanoseconds(writeNanoseconds.load(ordering: .relaxed)) }
        /// Directory fsyncs so far (`FileSystem.syncDirectory(_:)`).
        public var directorySyncCount: Int { directorySyncs.load(ordering: .relaxed) }
    }

    public let counters = Counters()
    let base = PosixFileSystem()

    public init() {}

    public func openFile(_ path: String, create: Bool) throws(LogStoreError) -> any LogStore.FileHandle {
        CountingFileHandle(base: try base.openFile(path, create: create), counters: counters)
    }
    public func createDirectory(_ path: String) throws(LogStoreError) { try base.createDirectory(path) }
    public func contentsOfDirectory(_ path: String) throws(LogStoreError) -> [String] {
        try base.contentsOfDirectory(path)
    }
    public func fileExists(_ path: String) -> Bool { base.fileExists(path) }
    public func isDirectory(_ path: String) -> Bool { base.isDirectory(path) }
    public func rename(_ from: String, to: String) throws(LogStoreError) { try base.rename(from, to: to) }
    public func removeFile(_ path: String) throws(LogStoreError) { try base.removeFile(path) }
    public func removeDirectory(_ path: String) throws(LogStoreError) { try base.removeDirectory(path) }
    public func syncDirectory(_ path: String) throws(LogStoreError) {
        counters.directorySyncs.add(1, ordering: .relaxed)
        try base.syncDirectory(path)
    }
    public func availableBytes(at path: String) throws(LogStoreError) -> Int64 { try base.availableBytes(at: path) }
    public func lockFile(_ path: String) throws(LogStoreError) -> any LogStore.FileHandle {
        try base.lockFile(path)
    }
}

/// A file of ``CountingFileSystem``: forwards to the real handle, counting `sync()`.
final class CountingFileHandle: LogStore.FileHandle {
    let base: any LogStore.FileHandle
    let counters: CountingFileSystem.Counters

    init(base: any LogStore.FileHandle, counters: CountingFileSystem.Counters) {
        self.base = base
        self.counters = counters
    }

    var path: String { base.path }
    var descriptor: Int32 { base.descriptor }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(LogStoreError) -> Int {
        try base.read(into: buffer, at: offset)
    }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(LogStoreError) {
        counters.writes.add(1, ordering: .relaxed)
        counters.writtenBytes.add(bytes.count, ordering: .relaxed)
        let start = ContinuousClock.now
        defer { counters.writeNanoseconds.add(Self.nanoseconds(since: start), ordering: .relaxed) }
        try base.write(bytes, at: offset)
    }
    func size() throws(LogStoreError) -> Int64 { try base.size() }
    func truncate(to size: Int64) throws(LogStoreError) { try base.truncate(to: size) }
    func allocate(size: Int64) throws(LogStoreError) { try base.allocate(size: size) }
    func sync() throws(LogStoreError) {
        counters.fileSyncs.add(1, ordering: .relaxed)
        let start = ContinuousClock.now
        defer { counters.fileSyncNanoseconds.add(Self.nanoseconds(since: start), ordering: .relaxed) }
        try base.sync()
    }

    private static func nanoseconds(since start: ContinuousClock.Instant) -> Int {
        let (seconds, attoseconds) = start.duration(to: .now).components
        return Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
    func map(length: Int) throws(LogStoreError) -> MappedRegion { try base.map(length: length) }
    func syncMapped(_ region: MappedRegion) throws(LogStoreError) { try base.syncMapped(region) }
}
