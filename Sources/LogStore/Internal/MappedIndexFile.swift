/// A memory-mapped file of fixed-size big-endian entries, with disk blocks reserved ahead of the
/// entries written: the storage under ``OffsetIndex`` and ``TimeIndex``. Entries are appended in
/// order; lookups binary-search, trying the most recent entries first. Callers serialize access
/// (the owning log's lock).
///
/// Room is reserved and mapped a step (``growthStep``) at a time up to the index's limit
/// (`segment.index.bytes`), not all at once: a rolled segment's index is cut to its entries, and
/// giving back most of a 10 MiB preallocation (twice per roll) was disk work that the next
/// fdatasyncs waited behind.
final class MappedIndexFile: @unchecked Sendable {
    let path: String
    let entrySize: Int
    private let handle: any FileHandle
    private var region: MappedRegion?
    private(set) var entryCount: Int
    /// The limit: the index is full at this many entries.
    private(set) var maxEntries: Int
    /// Entries the file and the mapping have room for now (≤ `maxEntries`).
    private var roomEntries = 0

    /// Bytes of room added at a time.
    static let growthStep = 1 << 20

    /// Opens or creates the index at `path`, with room for up to `maxBytes` of entries. An existing
    /// file keeps its whole entries (a trimmed file's length says how many there are); call
    /// ``reset()`` to rebuild it.
    init(fileSystem: any FileSystem, path: String, entrySize: Int, maxBytes: Int) throws {
        self.path = path
        self.entrySize = entrySize
        self.handle = try fileSystem.openFile(path, create: true)
        let existing = Int(try handle.size())
        self.entryCount = existing / entrySize
        self.maxEntries = max(maxBytes / entrySize, entryCount)
        try makeRoom(entries: min(maxEntries, max(entryCount, Self.growthStep / entrySize)))
    }

    /// Reserves disk blocks for `entries` entries (so writes through the mapping cannot hit a full
    /// disk) and maps them.
    private func makeRoom(entries: Int) throws {
        let bytes = entries * entrySize
        if bytes > Int(try handle.size()) { try handle.allocate(size: Int64(bytes)) }
        region = entries > 0 ? try handle.map(length: bytes) : nil
        roomEntries = entries
    }

    var isFull: Bool { entryCount >= maxEntries }
    var sizeInBytes: Int { entryCount * entrySize }

    /// Pointer to entry `index` (which must exist or be the one being appended).
    @inline(__always)
    func entry(_ index: Int) -> UnsafeMutableRawPointer {
        region!.pointer + index * entrySize
    }

    /// Reserves the next entry and returns its address; the caller fills it. nil when more room
    /// was needed and could not be had (a full disk): this entry is skipped (an index is sparse;
    /// lookups scan on from the entry before), and the next one tries again.
    ///
    /// Until the room reaches the limit, ordinary entries leave its last slot free for a
    /// `closing` one (the time index's entry for the segment's newest timestamp, which reopening
    /// relies on), so that one never needs room a full disk could refuse.
    func appendEntry(closing: Bool = false) -> UnsafeMutableRawPointer? {
        precondition(entryCount < maxEntries, "index \(path) is full")
        func slotsFree() -> Int { roomEntries - entryCount - (closing || roomEntries == maxEntries ? 0 : 1) }
        if slotsFree() <= 0 && roomEntries < maxEntries {
            // On failure the room stays as it was.
            try? makeRoom(entries: min(maxEntries, roomEntries + max(1, Self.growthStep / entrySize)))
        }
        guard slotsFree() > 0 else { return nil }
        let pointer = entry(entryCount)
        entryCount += 1
        return pointer
    }

    /// Drops every entry from `count` on.
    func truncate(toEntries count: Int) {
        entryCount = min(entryCount, count)
    }

    func reset() { entryCount = 0 }

    /// The greatest entry index whose key is ≤ `target`, where `key(i)` grows with i; nil when the
    /// first entry is already larger. Searches the last few pages first.
    @inline(__always)
    func floorIndex(of target: Int64, key: (Int) -> Int64) -> Int? {
        guard entryCount > 0, key(0) <= target else { return nil }
        let warmEntries = max(1, 8192 / entrySize)
        var low = 0
        var high = entryCount - 1
        if entryCount > warmEntries, key(entryCount - warmEntries) <= target {
            low = entryCount - warmEntries
        } else if entryCount > warmEntries {
            high = entryCount - warmEntries
        }
        while low < high {
            let middle = (low + high + 1) / 2
            if key(middle) <= target { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// msync: the entries survive power loss once this returns.
    func flush() throws {
        if let region { try handle.syncMapped(region) }
    }

    // Trimming a closed segment's index (`Segment.sealIndexes`) while readers use it: `flush`,
    // `mapUsed`, `cutToUsed` and `syncFile` take milliseconds (msync; a new mapping; giving back
    // the preallocated blocks; fdatasync) and need no lock, only `adopt` (a pointer swap) does.

    /// A new mapping of just the entries written.
    func mapUsed() throws -> MappedRegion? {
        entryCount > 0 ? try handle.map(length: sizeInBytes) : nil
    }

    /// Reads through `region` from now on, which holds every entry; no more entries fit. Returns
    /// the previous mapping, to be released outside the lock (releasing it unmaps it).
    func adopt(_ region: MappedRegion?) -> MappedRegion? {
        let previous = self.region
        self.region = region
        maxEntries = entryCount
        roomEntries = entryCount
        return previous
    }

    /// Cuts the file to its entries (after ``adopt(_:)``, so no mapping reaches past them).
    func cutToUsed() throws {
        try handle.truncate(to: Int64(sizeInBytes))
    }

    /// fdatasync of the file.
    func syncFile() throws {
        try handle.sync()
    }

    /// Lets a trimmed index grow again, up to `maxBytes` (when a closed log's last segment becomes
    /// active again).
    func reopen(maxBytes: Int) throws {
        region = nil
        maxEntries = max(maxBytes / entrySize, entryCount)
        try makeRoom(entries: min(maxEntries, entryCount + max(1, Self.growthStep / entrySize)))
    }
}
