import Foundation
import Testing

@testable import LogStore

/// Index files get room a step at a time up to `segment.index.bytes`, not all at once: entries
/// past the first step land and are found, the file grows step by step, sealing cuts it to its
/// entries, and a full disk skips an entry rather than failing the append.
@Suite struct IndexGrowthTests {
    static let stepEntries = MappedIndexFile.growthStep / OffsetIndex.entrySize

    @Test func entriesPastTheFirstStepLandAndTheFileGrowsByStepsUpToTheLimit() throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "index-growth")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let path = fs.root + "/00000000000000001000.index"
        let limit = 3 * Self.stepEntries + 100
        let index = try OffsetIndex(fileSystem: fs, path: path, baseOffset: 1000, maxBytes: limit * OffsetIndex.entrySize)
        func fileSize() throws -> Int { Int(try fs.openFile(path, create: false).size()) }
        #expect(try fileSize() == MappedIndexFile.growthStep, "only the first step is reserved")

        for i in 0..<(2 * Self.stepEntries + 10) {
            index.append(offset: 1000 + Int64(i) * 10 + 9, position: (i + 1) * 4096)
        }
        #expect(index.entryCount == 2 * Self.stepEntries + 10)
        #expect(try fileSize() == 3 * MappedIndexFile.growthStep)
        for i in [0, Self.stepEntries - 1, Self.stepEntries, 2 * Self.stepEntries + 9] {
            #expect(index.entry(i).offset == 1000 + Int64(i) * 10 + 9)
            #expect(index.lookup(1000 + Int64(i) * 10 + 15) == (i + 1) * 4096)
        }
        // Up to the limit, not past it.
        while !index.isFull { index.append(offset: 1000 + Int64(index.entryCount) * 10 + 9, position: (index.entryCount + 1) * 4096) }
        #expect(index.entryCount == limit)
        #expect(try fileSize() == limit * OffsetIndex.entrySize)

        // Sealing cuts the file to its entries, and they read back the same.
        try index.file.flush()
        _ = index.file.adopt(try index.file.mapUsed())
        try index.file.cutToUsed()
        #expect(try fileSize() == limit * OffsetIndex.entrySize)
        #expect(index.entry(limit - 1).offset == 1000 + Int64(limit - 1) * 10 + 9)
    }

    @Test func aFullDiskSkipsTheEntryThatNeededRoomAndTheNextOneTriesAgain() throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "index-growth-full")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let path = fs.root + "/00000000000000000000.index"
        let index = try OffsetIndex(fileSystem: fs, path: path, baseOffset: 0, maxBytes: 4 * MappedIndexFile.growthStep)
        // The first room's last slot stays free for a closing entry: the step-th entry needs more.
        let first = Self.stepEntries - 1
        for i in 0..<first { index.append(offset: Int64(i) * 10 + 9, position: (i + 1) * 4096) }
        fs.failWritesWithDiskFull = true
        index.append(offset: Int64(first) * 10 + 9, position: (first + 1) * 4096)
        #expect(index.entryCount == first, "no room: the entry is skipped")
        #expect(!index.isFull, "the index does not count as full, so the segment does not roll for it")
        fs.failWritesWithDiskFull = false
        index.append(offset: Int64(first + 1) * 10 + 9, position: (first + 2) * 4096)
        #expect(index.entryCount == first + 1)
        // A lookup of the skipped batch's offsets lands on the entry before it: a position to
        // scan forward from.
        #expect(index.lookup(Int64(first) * 10 + 5) == first * 4096)
        #expect(index.lookup(Int64(first + 1) * 10 + 15) == (first + 2) * 4096)
    }

    /// Reopening takes a segment's newest timestamp from the time index's last entry, so the
    /// entry added when the segment closes must land even when the disk is full.
    @Test func theClosingTimeEntryLandsOnAFullDisk() throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "index-growth-closing")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        let index = try TimeIndex(
            fileSystem: fs, path: fs.root + "/00000000000000000000.timeindex", baseOffset: 0,
            maxBytes: 4 * MappedIndexFile.growthStep)
        let first = MappedIndexFile.growthStep / TimeIndex.entrySize - 1
        for i in 0..<first { index.maybeAppend(timestamp: Int64(i), offset: Int64(i)) }
        fs.failWritesWithDiskFull = true
        index.maybeAppend(timestamp: Int64(first), offset: Int64(first))
        #expect(index.entryCount == first, "an ordinary entry needing room is skipped")
        index.maybeAppend(timestamp: Int64(first + 5), offset: Int64(first + 5), closing: true)
        #expect(index.entryCount == first + 1)
        #expect(index.last?.timestamp == Int64(first + 5))
        #expect(index.last?.offset == Int64(first + 5))
    }
}
