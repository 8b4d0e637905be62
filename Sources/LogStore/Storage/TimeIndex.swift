/// The sparse time index of one segment: entries of (largest timestamp so far, i64; the offset
/// relative to the segment's base offset of the batch that reached it, u32). Timestamps never
/// decrease, so a lookup finds where records at or after a time can start.
final class TimeIndex: @unchecked Sendable {
    static let entrySize = 12
    let baseOffset: Int64
    let file: MappedIndexFile

    init(fileSystem: any FileSystem, path: String, baseOffset: Int64, maxBytes: Int) throws {
        self.baseOffset = baseOffset
        self.file = try MappedIndexFile(
            fileSystem: fileSystem, path: path, entrySize: Self.entrySize, maxBytes: maxBytes)
    }

    var entryCount: Int { file.entryCount }
    var isFull: Bool { file.isFull }

    func entry(_ i: Int) -> (timestamp: Int64, offset: Int64) {
        let p = UnsafeRawPointer(file.entry(i))
        let timestamp = Int64(bigEndian: p.loadUnaligned(as: Int64.self))
        let relative = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        return (timestamp, baseOffset + Int64(relative))
    }

    var last: (timestamp: Int64, offset: Int64)? { entryCount > 0 ? entry(entryCount - 1) : nil }

    /// Adds an entry when `timestamp` is newer than the last one. `closing`: the segment's last
    /// entry (see ``MappedIndexFile/appendEntry(closing:)``).
    func maybeAppend(timestamp: Int64, offset: Int64, closing: Bool = false) {
        if let last, timestamp <= last.timestamp { return }
        guard let p = file.appendEntry(closing: closing) else { return }
        p.storeBytes(of: timestamp.bigEndian, as: Int64.self)
        p.storeBytes(of: UInt32(offset - baseOffset).bigEndian, toByteOffset: 8, as: UInt32.self)
    }

    /// The offset of the last entry with a timestamp below `target`: records with timestamps
    /// ≥ `target` can only come after it. nil when no entry is below `target`.
    func lookupBefore(_ target: Int64) -> Int64? {
        guard target > Int64.min, let i = file.floorIndex(of: target - 1, key: { entry($0).timestamp }) else {
            return nil
        }
        return entry(i).offset
    }

    func isConsistent() -> Bool {
        var previous: (timestamp: Int64, offset: Int64) = (Int64.min, baseOffset - 1)
        for i in 0..<entryCount {
            let e = entry(i)
            if e.timestamp <= previous.timestamp || e.offset < previous.offset { return false }
            previous = e
        }
        return true
    }
}
