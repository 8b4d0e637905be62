#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real file system, through POSIX calls.
public struct PosixFileSystem: FileSystem {
    public init() {}

    public func openFile(_ path: String, create: Bool) throws(LogStoreError) -> any FileHandle {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw Self.error("open", path) }
        return PosixFileHandle(path: path, descriptor: fd)
    }

    public func createDirectory(_ path: String) throws(LogStoreError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw Self.error("mkdir", path) }
    }

    public func contentsOfDirectory(_ path: String) throws(LogStoreError) -> [String] {
        guard let dir = opendir(path) else { throw Self.error("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    public func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public func rename(_ from: String, to: String) throws(LogStoreError) {
        if Glibc.rename(from, to) != 0 { throw Self.error("rename to \(to)", from) }
    }

    public func removeFile(_ path: String) throws(LogStoreError) {
        if unlink(path) != 0 && errno != ENOENT { throw Self.error("unlink", path) }
    }

    public func removeDirectory(_ path: String) throws(LogStoreError) {
        if rmdir(path) != 0 && errno != ENOENT { throw Self.error("rmdir", path) }
    }

    public func syncDirectory(_ path: String) throws(LogStoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error("open directory", path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw Self.error("fsync directory", path) }
    }

    public func availableBytes(at path: String) throws(LogStoreError) -> Int64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw Self.error("statvfs", path) }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    public func lockFile(_ path: String) throws(LogStoreError) -> any FileHandle {
        let handle = try openFile(path, create: true)
        if flock(handle.descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK {
                throw LogStoreError(
                    .dataDirectoryLocked,
                    "\(Path.parent(of: path)) is in use by another process (lock \(path)); stop it first")
            }
            throw Self.error("flock", path)
        }
        return handle
    }

    static func error(_ operation: String, _ path: String, _ code: Int32 = errno) -> LogStoreError {
        let kind: LogStoreError.Code = code == ENOSPC || code == EDQUOT ? .diskFull : .io
        return LogStoreError(kind, "\(operation) \(path): \(String(cString: strerror(code)))")
    }
}

/// A POSIX file descriptor, closed on release.
final class PosixFileHandle: FileHandle {
    let path: String
    let descriptor: Int32

    init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(LogStoreError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PosixFileSystem.error("pread", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(LogStoreError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PosixFileSystem.error("pwrite", path)
            }
            done += n
        }
    }

    func size() throws(LogStoreError) -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw PosixFileSystem.error("fstat", path) }
        return Int64(info.st_size)
    }

    func truncate(to size: Int64) throws(LogStoreError) {
        if ftruncate(descriptor, off_t(size)) != 0 { throw PosixFileSystem.error("ftruncate", path) }
    }

    func allocate(size: Int64) throws(LogStoreError) {
        let result = posix_fallocate(descriptor, 0, off_t(size))
        if result == EOPNOTSUPP || result == EINVAL {
            try truncate(to: size)  // file systems without fallocate: a sparse file is the best we get
        } else if result != 0 {
            throw PosixFileSystem.error("fallocate", path, result)
        }
    }

    func sync() throws(LogStoreError) {
        if fdatasync(descriptor) != 0 { throw PosixFileSystem.error("fdatasync", path) }
    }

    func map(length: Int) throws(LogStoreError) -> MappedRegion {
        let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let pointer, pointer != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw PosixFileSystem.error("mmap", path)
        }
        return MappedRegion(pointer: pointer, length: length) { pointer, length in _ = munmap(pointer, length) }
    }

    func syncMapped(_ region: MappedRegion) throws(LogStoreError) {
        if msync(region.pointer, region.length, MS_SYNC) != 0 { throw PosixFileSystem.error("msync", path) }
    }
}
