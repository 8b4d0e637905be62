/// The sparse offset index of one segment: entries of (offset relative to the segment's base
/// offset, u32; file position of the batch, u32), each naming the *last* offset of a batch, so a
/// lookup gives a position at or before the batch holding the target offset.
final class OffsetIndex: @unchecked Sendable {
    static let entrySize = 8
    let baseOffset: Int64
    let file: MappedIndexFile

    init(fileSystem: any FileSystem, path: String, baseOffset: Int64, maxBytes: Int) throws {
        self.baseOffset = baseOffset
        self.file = try MappedIndexFile(
            fileSystem: fileSystem, path: path, entrySize: Self.entrySize, maxBytes: maxBytes)
    }

    var entryCount: Int { file.entryCount }
    var isFull: Bool { file.isFull }

    /// The (absolute offset, position) of entry `i`.
    func entry(_ i: Int) -> (offset: Int64, position: Int) {
        let p = UnsafeRawPointer(file.entry(i))
        let relative = UInt32(bigEndian: p.loadUnaligned(as: UInt32.self))
        let position = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return (baseOffset + Int64(relative), Int(position))
    }

    var lastOffset: Int64? { entryCount > 0 ? entry(entryCount - 1).offset : nil }

    /// Adds an entry for a batch whose last offset is `offset`, starting at `position`.
    func append(offset: Int64, position: Int) {
        guard let p = file.appendEntry() else { return }
        p.storeBytes(of: UInt32(offset - baseOffset).bigEndian, as: UInt32.self)
        p.storeBytes(of: UInt32(position).bigEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// A file position at or before the batch holding `target` (0 when no entry is ≤ it).
    func lookup(_ target: Int64) -> Int {
        guard let i = file.floorIndex(of: target, key: { entry($0).offset }) else { return 0 }
        return entry(i).position
    }

    /// Checks that entries grow strictly and point inside a log of `logSize` bytes.
    func isConsistent(logSize: Int) -> Bool {
        var previous: (offset: Int64, position: Int) = (baseOffset - 1, -1)
        for i in 0..<entryCount {
            let e = entry(i)
            if e.offset <= previous.offset || e.position <= previous.position || e.position >= logSize { return false }
            previous = e
        }
        return true
    }
}
