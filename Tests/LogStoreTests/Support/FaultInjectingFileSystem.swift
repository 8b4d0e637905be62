import Foundation

@testable import LogStore

/// A ``FileSystem`` for crash tests, in the style of RocksDB's `FaultInjectionTestFS`.
///
/// It wraps a real ``PosixFileSystem`` over a real directory (`root`) and forwards every call to
/// it, while keeping a model of what would survive a power loss:
///
/// - Every file and directory has an identity (an "inode" number assigned here). Everything that
///   exists under `root` when the object is created, or when ``simulatePowerLoss()`` returns, is
///   fully durable.
/// - A file's *durable content* is a copy of its whole real content as of the last
///   ``FileHandle/sync()`` or ``FileHandle/syncMapped(_:)`` through one of its handles (a file that
///   was never synced has empty durable content).
/// - A directory's *durable listing* (name -> inode) is its live listing as of the last
///   ``syncDirectory(_:)`` of it. Creating a file or directory, `rename`, `removeFile` and
///   `removeDirectory` only change the live listing until the parent (for a rename: both
///   parents) is synced.
///
/// ``simulatePowerLoss()`` rewrites the real tree so that it equals the durable state, and
/// invalidates every handle opened before it.
///
/// Fault switches: ``crashAfterOperations(_:)``, ``failNextSync()``, ``failSyncs``,
/// ``failWritesWithDiskFull`` and ``availableBytesOverride``; ``holdSegmentSyncs()`` makes
/// segment fdatasyncs wait for the test to let them through.
///
/// Paths may be absolute (under `root`) or relative to `root`; they are normalised (repeated
/// slashes, `.` and `..` are resolved textually), so one file is tracked once whatever string
/// names it. `createDirectory` and `syncDirectory` of the root's ancestors succeed (so a
/// `mkdir -p` of the root works) without changing the model; other mutating or tracking calls on
/// paths outside `root` throw `io`. Every change under `root` must go through this object (the
/// model does not notice changes made behind its back).
///
/// Thread safety: all mutable state is guarded by the one `NSLock` `lock`, which is held for the
/// whole of each call (including the real I/O), so the model and the real tree change together.
final class FaultInjectingFileSystem: FileSystem, @unchecked Sendable {
    /// The real directory everything lives in (as given to `init`).
    let root: String

    private let real = PosixFileSystem()
    private let rootComponents: [String]
    /// `root` normalised (no trailing or repeated slashes).
    private let rootPath: String

    /// Guards every `var` below (and is held across the real I/O of each call).
    private let lock = NSLock()

    private struct Inode {
        var isDirectory: Bool
        /// Files: the content as of the last sync.
        var durableContent: [UInt8] = []
        /// Directories: the current entries.
        var liveEntries: [String: Int] = [:]
        /// Directories: the entries as of the last `syncDirectory`.
        var durableEntries: [String: Int] = [:]
    }

    private var inodes: [Int: Inode] = [:]
    private var nextInode = 1
    private var rootInode = 0
    /// Bumped by `simulatePowerLoss`; handles from an older epoch are dead.
    private var epoch = 0

    private var _operationCount = 0
    private var operationsBeforeCrash: Int?
    private var _hasCrashed = false
    private var _failNextSync = false
    private var _failSyncs = false
    private var _failWritesWithDiskFull = false
    private var _availableBytesOverride: Int64?

    /// Wraps the real directory `root` (created when missing). Its current contents are durable.
    init(root: String) throws(LogStoreError) {
        self.root = root
        let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        guard let components = Self.normalise(absolute.split(separator: "/", omittingEmptySubsequences: true)) else {
            throw LogStoreError(.io, "\(root): cannot normalise the root path")
        }
        self.rootComponents = components
        self.rootPath = "/" + components.joined(separator: "/")
        try real.createDirectory(rootPath)
        try locked { () throws(LogStoreError) in try adoptRealTree() }
    }

    /// A fault-injecting file system over a new, empty directory under the system temporary
    /// directory. The caller removes `root` when done.
    static func temporary(prefix: String = "fault-fs") throws -> FaultInjectingFileSystem {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return try FaultInjectingFileSystem(root: url.path)
    }

    // MARK: Fault switches

    /// Mutating operations performed so far (write, truncate, allocate, sync, syncMapped, rename,
    /// removeFile, removeDirectory, createDirectory, syncDirectory, openFile/lockFile creating a new
    /// file), whether they then succeeded or failed. Not reset by `simulatePowerLoss`.
    var operationCount: Int { lock.withLock { _operationCount } }

    /// True once a crash armed with ``crashAfterOperations(_:)`` has happened; every call (other
    /// than `fileExists`/`isDirectory`, which cannot throw) then throws `io` until
    /// ``simulatePowerLoss()``.
    var hasCrashed: Bool { lock.withLock { _hasCrashed } }

    /// Lets `n` more mutating operations through, then crashes: from then on every call throws
    /// `LogStoreError(.io, "simulated crash")`. `n == 0` crashes at once.
    func crashAfterOperations(_ n: Int) {
        lock.withLock {
            if n <= 0 {
                _hasCrashed = true
                operationsBeforeCrash = nil
            } else {
                operationsBeforeCrash = n
            }
        }
    }

    /// The next `sync()` or `syncMapped` throws `io` and leaves the durable content unchanged.
    func failNextSync() { lock.withLock { _failNextSync = true } }

    /// While true, every `sync()` and `syncMapped` throws `io` and leaves the durable content
    /// unchanged.
    var failSyncs: Bool {
        get { lock.withLock { _failSyncs } }
        set { lock.withLock { _failSyncs = newValue } }
    }

    /// While true, `write` and `allocate` throw `diskFull` without changing the file.
    var failWritesWithDiskFull: Bool {
        get { lock.withLock { _failWritesWithDiskFull } }
        set { lock.withLock { _failWritesWithDiskFull = newValue } }
    }

    /// When set, `availableBytes(at:)` returns it.
    var availableBytesOverride: Int64? {
        get { lock.withLock { _availableBytesOverride } }
        set { lock.withLock { _availableBytesOverride = newValue } }
    }

    // MARK: Held syncs

    /// Guards the `var`s below (not `lock`: a held sync must not block other calls).
    private let syncGate = NSCondition()
    private var holdingSyncs = false
    private var syncsLetThrough = 0
    private var syncsWaiting = 0

    /// From now on, `sync()` of a segment file (`.log`) waits until ``letSyncsThrough(_:)`` or
    /// ``stopHoldingSyncs()`` releases it.
    func holdSegmentSyncs() {
        syncGate.withLock { holdingSyncs = true }
    }

    /// Lets `count` held (or future) segment syncs go on.
    func letSyncsThrough(_ count: Int = 1) {
        syncGate.withLock {
            syncsLetThrough += count
            syncGate.broadcast()
        }
    }

    /// Releases every held segment sync and stops holding them.
    func stopHoldingSyncs() {
        syncGate.withLock {
            holdingSyncs = false
            syncGate.broadcast()
        }
    }

    /// Segment syncs waiting at the gate now.
    var heldSyncs: Int { syncGate.withLock { syncsWaiting } }

    /// The most `sync()` calls that were ever inside one file at once (waiting for the lock
    /// included): 1 when no file is synced by two threads concurrently.
    var maxConcurrentSyncsOfOneFile: Int { syncGate.withLock { maxSyncsInFlight } }
    private var syncsInFlight: [String: Int] = [:]
    private var maxSyncsInFlight = 0

    fileprivate func syncStarted(_ path: String) {
        syncGate.withLock {
            syncsInFlight[path, default: 0] += 1
            maxSyncsInFlight = max(maxSyncsInFlight, syncsInFlight[path]!)
        }
    }

    fileprivate func syncEnded(_ path: String) {
        syncGate.withLock { syncsInFlight[path]! -= 1 }
    }

    fileprivate func passSyncGate(_ path: String) {
        guard path.hasSuffix(".log") else { return }
        syncGate.withLock {
            guard holdingSyncs else { return }
            syncsWaiting += 1
            while holdingSyncs && syncsLetThrough == 0 { syncGate.wait() }
            if holdingSyncs { syncsLetThrough -= 1 }
            syncsWaiting -= 1
        }
    }

    // MARK: Power loss

    /// Rewrites the real tree under `root` to the durable state: every directory holds exactly its
    /// durable listing and every file exactly its durable content (files are recreated, so old
    /// descriptors and mappings no longer reach them). Handles opened before are dead afterwards
    /// (every call on them throws `io`). Clears the crash and every fault switch; the new state
    /// is fully durable.
    func simulatePowerLoss() throws(LogStoreError) {
        try locked { () throws(LogStoreError) in
            for name in try real.contentsOfDirectory(rootPath) {
                try removeRealTree(rootPath + "/" + name)
            }
            var visited: Set<Int> = [rootInode]
            try rebuild(directory: rootInode, at: rootPath, visited: &visited)
            epoch += 1
            _hasCrashed = false
            operationsBeforeCrash = nil
            _failNextSync = false
            _failSyncs = false
            _failWritesWithDiskFull = false
            _availableBytesOverride = nil
            try adoptRealTree()
        }
    }

    /// The durable content of the file at `path` (following live names), for assertions.
    func durableContent(of path: String) throws(LogStoreError) -> [UInt8]? {
        try locked { () throws(LogStoreError) -> [UInt8]? in
            guard let inode = lookup(try components(path)), let node = inodes[inode], !node.isDirectory else {
                return nil
            }
            return node.durableContent
        }
    }

    // MARK: FileSystem

    func openFile(_ path: String, create: Bool) throws(LogStoreError) -> any LogStore.FileHandle {
        try open(path, create: create, lock: false)
    }

    func lockFile(_ path: String) throws(LogStoreError) -> any LogStore.FileHandle {
        try open(path, create: true, lock: true)
    }

    func createDirectory(_ path: String) throws(LogStoreError) {
        try locked { () throws(LogStoreError) in
            try checkNotCrashed()
            if isStrictAncestorOfRoot(path) {  // `mkdir -p` of the root: its ancestors exist
                try beginMutation()
                return
            }
            let parts = try components(path)
            try beginMutation()
            try real.createDirectory(realPath(parts))
            guard !parts.isEmpty, lookup(parts) == nil else { return }
            let parent = try parentInode(parts, path)
            let inode = allocateInode(Inode(isDirectory: true))
            inodes[parent]!.liveEntries[parts.last!] = inode
        }
    }

    func contentsOfDirectory(_ path: String) throws(LogStoreError) -> [String] {
        try locked { () throws(LogStoreError) -> [String] in
            try checkNotCrashed()
            return try real.contentsOfDirectory(realPathIfInside(path))
        }
    }

    func fileExists(_ path: String) -> Bool {
        lock.withLock { real.fileExists(realPathIfInside(path)) }
    }

    func isDirectory(_ path: String) -> Bool {
        lock.withLock { real.isDirectory(realPathIfInside(path)) }
    }

    func rename(_ from: String, to: String) throws(LogStoreError) {
        try locked { () throws(LogStoreError) in
            try checkNotCrashed()
            let source = try components(from)
            let target = try components(to)
            guard !source.isEmpty, !target.isEmpty else {
                throw LogStoreError(.io, "rename \(from) to \(to): cannot rename the root")
            }
            try beginMutation()
            try real.rename(realPath(source), to: realPath(target))
            guard source != target else { return }
            let sourceParent = try parentInode(source, from)
            let targetParent = try parentInode(target, to)
            guard let inode = inodes[sourceParent]!.liveEntries.removeValue(forKey: source.last!) else {
                throw LogStoreError(.io, "rename \(from): not tracked by FaultInjectingFileSystem")
            }
            inodes[targetParent]!.liveEntries[target.last!] = inode
        }
    }

    func removeFile(_ path: String) throws(LogStoreError) {
        try removeEntry(path, directory: false)
    }

    func removeDirectory(_ path: String) throws(LogStoreError) {
        try removeEntry(path, directory: true)
    }

    func syncDirectory(_ path: String) throws(LogStoreError) {
        try locked { () throws(LogStoreError) in
            try checkNotCrashed()
            if isStrictAncestorOfRoot(path) {  // the root's own entry is always durable
                try beginMutation()
                try real.syncDirectory(path)
                return
            }
            let parts = try components(path)
            try beginMutation()
            try real.syncDirectory(realPath(parts))
            guard let inode = lookup(parts), inodes[inode]!.isDirectory else {
                throw LogStoreError(.io, "syncDirectory \(path): not a tracked directory")
            }
            inodes[inode]!.durableEntries = inodes[inode]!.liveEntries
        }
    }

    func availableBytes(at path: String) throws(LogStoreError) -> Int64 {
        try locked { () throws(LogStoreError) -> Int64 in
            try checkNotCrashed()
            if let override = _availableBytesOverride { return override }
            return try real.availableBytes(at: realPathIfInside(path))
        }
    }

    // MARK: Handles (called by FaultInjectingFileHandle)

    fileprivate enum HandleOperation {
        case read, write, truncate, allocate, sync, syncMapped
    }

    /// Runs `body` (the real call) for a handle under the lock, after the dead-handle, crash and
    /// fault checks; a successful `sync`/`syncMapped` then snapshots the file's durable content.
    fileprivate func perform<R>(
        _ operation: HandleOperation, on handle: FaultInjectingFileHandle, _ body: () throws(LogStoreError) -> R
    ) throws(LogStoreError) -> R {
        try locked { () throws(LogStoreError) -> R in
            guard handle.epoch == epoch else {
                throw LogStoreError(.io, "\(handle.path): handle invalidated by a simulated power loss")
            }
            try checkNotCrashed()
            if operation != .read { try beginMutation() }
            switch operation {
            case .write, .allocate:
                if _failWritesWithDiskFull {
                    throw LogStoreError(.diskFull, "\(handle.path): no space left on device (injected)")
                }
            case .sync, .syncMapped:
                if _failSyncs || _failNextSync {
                    _failNextSync = false
                    let call = operation == .sync ? "fdatasync" : "msync"
                    throw LogStoreError(.io, "\(handle.path): \(call) failed (injected)")
                }
            case .read, .truncate:
                break
            }
            let result = try body()
            if operation == .sync || operation == .syncMapped {
                let size = try handle.real.size()
                inodes[handle.inode]?.durableContent = try Self.read(handle.real, count: Int(size))
            }
            return result
        }
    }

    // MARK: Private

    private func locked<R>(_ body: () throws(LogStoreError) -> R) throws(LogStoreError) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func checkNotCrashed() throws(LogStoreError) {
        if _hasCrashed { throw LogStoreError(.io, "simulated crash") }
    }

    /// Counts a mutating operation (the caller has checked for a crash) and arms the crash when
    /// it is the last one let through.
    private func beginMutation() throws(LogStoreError) {
        _operationCount += 1
        if let remaining = operationsBeforeCrash {
            if remaining <= 1 {
                operationsBeforeCrash = nil
                _hasCrashed = true  // this operation still runs; the next call sees the crash
            } else {
                operationsBeforeCrash = remaining - 1
            }
        }
    }

    private func open(_ path: String, create: Bool, lock isLock: Bool) throws(LogStoreError) -> any LogStore.FileHandle {
        try locked { () throws(LogStoreError) -> any LogStore.FileHandle in
            try checkNotCrashed()
            let parts = try components(path)
            guard !parts.isEmpty else { throw LogStoreError(.io, "open \(path): is the root directory") }
            let existing = lookup(parts)
            let creating = create && existing == nil
            if creating { try beginMutation() }
            let realHandle = isLock
                ? try real.lockFile(realPath(parts)) : try real.openFile(realPath(parts), create: create)
            let inode: Int
            if let existing {
                inode = existing
            } else {
                // Created now (or, without `create`, made behind our back: tracked as new).
                let parent = try parentInode(parts, path)
                inode = allocateInode(Inode(isDirectory: false))
                inodes[parent]!.liveEntries[parts.last!] = inode
            }
            return FaultInjectingFileHandle(fileSystem: self, real: realHandle, path: path, inode: inode, epoch: epoch)
        }
    }

    private func removeEntry(_ path: String, directory: Bool) throws(LogStoreError) {
        try locked { () throws(LogStoreError) in
            try checkNotCrashed()
            let parts = try components(path)
            guard !parts.isEmpty else { throw LogStoreError(.io, "remove \(path): is the root directory") }
            try beginMutation()
            if directory {
                try real.removeDirectory(realPath(parts))
            } else {
                try real.removeFile(realPath(parts))
            }
            if let parent = lookup(Array(parts.dropLast())) {
                inodes[parent]?.liveEntries.removeValue(forKey: parts.last!)
            }
        }
    }

    private func allocateInode(_ node: Inode) -> Int {
        let number = nextInode
        nextInode += 1
        inodes[number] = node
        return number
    }

    /// The inode a path names in the live tree.
    private func lookup(_ parts: [String]) -> Int? {
        var current = rootInode
        for name in parts {
            guard let node = inodes[current], node.isDirectory, let next = node.liveEntries[name] else { return nil }
            current = next
        }
        return current
    }

    private func parentInode(_ parts: [String], _ path: String) throws(LogStoreError) -> Int {
        guard let parent = lookup(Array(parts.dropLast())), inodes[parent]!.isDirectory else {
            throw LogStoreError(.io, "\(path): parent directory not tracked by FaultInjectingFileSystem")
        }
        return parent
    }

    /// The components of `path` relative to the root.
    /// - Throws: `io` when `path` is outside the root.
    private func components(_ path: String) throws(LogStoreError) -> [String] {
        let pieces = path.split(separator: "/", omittingEmptySubsequences: true)
        if path.hasPrefix("/") {
            guard let all = Self.normalise(pieces), all.starts(with: rootComponents) else {
                throw LogStoreError(.io, "\(path) is outside the FaultInjectingFileSystem root \(rootPath)")
            }
            return Array(all.dropFirst(rootComponents.count))
        }
        guard let relative = Self.normalise(pieces) else {
            throw LogStoreError(.io, "\(path) is outside the FaultInjectingFileSystem root \(rootPath)")
        }
        return relative
    }

    /// Whether `path` (absolute) names a directory above the root, such as `/tmp` for a root
    /// `/tmp/x`.
    private func isStrictAncestorOfRoot(_ path: String) -> Bool {
        guard path.hasPrefix("/"),
            let all = Self.normalise(path.split(separator: "/", omittingEmptySubsequences: true))
        else { return false }
        return all.count < rootComponents.count && rootComponents.starts(with: all)
    }

    /// Resolves `.` and `..` textually; nil when `..` climbs above the start.
    private static func normalise(_ pieces: [Substring]) -> [String]? {
        var result: [String] = []
        for piece in pieces {
            switch piece {
            case ".": continue
            case "..":
                if result.isEmpty { return nil }
                result.removeLast()
            default: result.append(String(piece))
            }
        }
        return result
    }

    private func realPath(_ parts: [String]) -> String {
        parts.isEmpty ? rootPath : rootPath + "/" + parts.joined(separator: "/")
    }

    /// The real path for a read-only call: normalised under the root, or `path` itself outside.
    private func realPathIfInside(_ path: String) -> String {
        (try? realPath(components(path))) ?? path
    }

    /// Runs a body whose errors the compiler sees as `any Error` (through a `rethrows` call) but
    /// are all `LogStoreError`.
    private static func typed<R>(_ body: () throws -> R) throws(LogStoreError) -> R {
        do {
            return try body()
        } catch let error as LogStoreError {
            throw error
        } catch {
            throw LogStoreError(.io, "\(error)")
        }
    }

    private static func read(_ handle: any LogStore.FileHandle, count: Int) throws(LogStoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try typed { try bytes.withUnsafeMutableBytes { raw in try handle.read(into: raw, at: 0) } }
        guard got == count else { throw LogStoreError(.io, "\(handle.path): short read (\(got) of \(count) bytes)") }
        return bytes
    }

    /// Forgets the model and tracks the real tree under the root as fully durable.
    private func adoptRealTree() throws(LogStoreError) {
        inodes = [:]
        rootInode = allocateInode(Inode(isDirectory: true))
        try adopt(directory: rootInode, at: rootPath)
    }

    private func adopt(directory: Int, at path: String) throws(LogStoreError) {
        var entries: [String: Int] = [:]
        for name in try real.contentsOfDirectory(path) {
            let child = path + "/" + name
            if real.isDirectory(child) {
                let inode = allocateInode(Inode(isDirectory: true))
                try adopt(directory: inode, at: child)
                entries[name] = inode
            } else {
                let handle = try real.openFile(child, create: false)
                let content = try Self.read(handle, count: Int(try handle.size()))
                entries[name] = allocateInode(Inode(isDirectory: false, durableContent: content))
            }
        }
        inodes[directory]!.liveEntries = entries
        inodes[directory]!.durableEntries = entries
    }

    private func removeRealTree(_ path: String) throws(LogStoreError) {
        if real.isDirectory(path) {
            for name in try real.contentsOfDirectory(path) {
                try removeRealTree(path + "/" + name)
            }
            try real.removeDirectory(path)
        } else {
            try real.removeFile(path)
        }
    }

    /// Recreates the durable listing of `directory` at `path` (which exists and is empty).
    private func rebuild(directory: Int, at path: String, visited: inout Set<Int>) throws(LogStoreError) {
        for (name, inode) in inodes[directory]!.durableEntries.sorted(by: { $0.key < $1.key }) {
            guard let node = inodes[inode] else { continue }
            let child = path + "/" + name
            if node.isDirectory {
                // Renames of directories across unsynced parents could make a directory durable
                // in two places (or inside itself); keep the first.
                guard visited.insert(inode).inserted else { continue }
                try real.createDirectory(child)
                try rebuild(directory: inode, at: child, visited: &visited)
            } else {
                let handle = try real.openFile(child, create: true)
                try Self.typed { try node.durableContent.withUnsafeBytes { raw in try handle.write(raw, at: 0) } }
            }
        }
    }
}

/// A handle from ``FaultInjectingFileSystem``: forwards to the real handle through the file
/// system's checks. Dead (every call throws `io`) after a simulated power loss.
final class FaultInjectingFileHandle: LogStore.FileHandle {
    let path: String
    fileprivate let fileSystem: FaultInjectingFileSystem
    fileprivate let real: any LogStore.FileHandle
    /// The file's identity in the model (follows renames).
    fileprivate let inode: Int
    /// The file system's power-loss epoch when opened.
    fileprivate let epoch: Int

    fileprivate init(fileSystem: FaultInjectingFileSystem, real: any LogStore.FileHandle, path: String, inode: Int, epoch: Int) {
        self.fileSystem = fileSystem
        self.real = real
        self.path = path
        self.inode = inode
        self.epoch = epoch
    }

    /// The real descriptor (still open after a simulated power loss, but on a file that is no
    /// longer linked under the root).
    var descriptor: Int32 { real.descriptor }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(LogStoreError) -> Int {
        try fileSystem.perform(.read, on: self) { () throws(LogStoreError) -> Int in
            try real.read(into: buffer, at: offset)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(LogStoreError) {
        try fileSystem.perform(.write, on: self) { () throws(LogStoreError) in try real.write(bytes, at: offset) }
    }

    func size() throws(LogStoreError) -> Int64 {
        try fileSystem.perform(.read, on: self) { () throws(LogStoreError) -> Int64 in try real.size() }
    }

    func truncate(to size: Int64) throws(LogStoreError) {
        try fileSystem.perform(.truncate, on: self) { () throws(LogStoreError) in try real.truncate(to: size) }
    }

    func allocate(size: Int64) throws(LogStoreError) {
        try fileSystem.perform(.allocate, on: self) { () throws(LogStoreError) in try real.allocate(size: size) }
    }

    func sync() throws(LogStoreError) {
        fileSystem.syncStarted(path)
        defer { fileSystem.syncEnded(path) }
        fileSystem.passSyncGate(path)
        try fileSystem.perform(.sync, on: self) { () throws(LogStoreError) in try real.sync() }
    }

    func map(length: Int) throws(LogStoreError) -> MappedRegion {
        try fileSystem.perform(.read, on: self) { () throws(LogStoreError) -> MappedRegion in
            try real.map(length: length)
        }
    }

    func syncMapped(_ region: MappedRegion) throws(LogStoreError) {
        try fileSystem.perform(.syncMapped, on: self) { () throws(LogStoreError) in try real.syncMapped(region) }
    }
}
