/// The crash-safe replacement of closed segments by the cleaner's output, and its completion
/// or roll-back when a log opens.
///
/// For each cleaned segment with base offset `b` replacing the old segments whose base offsets
/// lie in `[b, end)`:
///
/// 1. The cleaner writes `b.log.cleaned`, `b.index.cleaned`, `b.timeindex.cleaned` and
///    fdatasyncs them.
/// 2. It renames the index files to `b.index.swap` and `b.timeindex.swap`, then the log to
///    `b-end.log.swap`, and fsyncs the directory. **The durable `b-end.log.swap` is the commit
///    point**: before it, recovery deletes every `.cleaned` (and any index `.swap` without its
///    log) and the old segments stay; after it, recovery finishes the swap.
/// 3. It deletes the old segments with base in `(b, end)`, renames the index `.swap` files over
///    `b.index` and `b.timeindex`, and fsyncs the directory.
/// 4. It renames `b-end.log.swap` over `b.log` and fsyncs the directory.
///
/// Finishing a swap (step 3 and 4 again) is idempotent. When the index `.swap` files are gone
/// at that point (they were already renamed, or never made it), the `b.index`/`b.timeindex` on
/// disk may belong to either segment, so they are deleted and rebuilt from the log.
enum SegmentSwap {
    static let cleanedSuffix = ".cleaned"
    static let swapSuffix = ".swap"

    static func logSwapName(base: Int64, end: Int64) -> String {
        Segment.fileName(base, "") + "-" + Segment.fileName(end, ".log" + swapSuffix)
    }

    /// Parses `b-end.log.swap`.
    static func parseLogSwapName(_ name: String) -> (base: Int64, end: Int64)? {
        guard name.hasSuffix(".log" + swapSuffix), name.count == 20 + 1 + 20 + 9 else { return nil }
        let digits = name.prefix(41)
        let parts = digits.split(separator: "-")
        guard parts.count == 2, let base = Int64(parts[0]), let end = Int64(parts[1]), base < end else { return nil }
        return (base, end)
    }

    /// Deletes unfinished cleaner output and finishes committed swaps in `directory`. Returns the
    /// base offsets of segments whose indexes must be rebuilt from the log.
    static func recover(directory: String, fileSystem: any FileSystem, logger: (String) -> Void) throws -> Set<Int64> {
        var names = try fileSystem.contentsOfDirectory(directory)
        var changed = false
        for name in names where name.hasSuffix(cleanedSuffix) {
            try fileSystem.removeFile(Path.join(directory, name))
            changed = true
        }
        let swaps = names.compactMap(parseLogSwapName).sorted { $0.base < $1.base }
        let swapBases = Set(swaps.map(\.base))
        // Index swaps whose log never reached .swap belong to an uncommitted pass.
        for name in names where name.hasSuffix(".index" + swapSuffix) || name.hasSuffix(".timeindex" + swapSuffix) {
            guard let base = Int64(name.prefix(20)), !swapBases.contains(base) else { continue }
            try fileSystem.removeFile(Path.join(directory, name))
            changed = true
        }
        if changed { try fileSystem.syncDirectory(directory) }
        guard !swaps.isEmpty else { return [] }
        names = try fileSystem.contentsOfDirectory(directory)
        var rebuild = Set<Int64>()
        for swap in swaps {
            logger("finishing an interrupted compaction swap of offsets \(swap.base)..<\(swap.end)")
            if try finish(base: swap.base, end: swap.end, directory: directory, names: names, fileSystem: fileSystem) {
                rebuild.insert(swap.base)
            }
        }
        return rebuild
    }

    /// Step 3 and 4 of the swap, each followed by a directory fsync. Returns true when the
    /// indexes could not be moved and must be rebuilt.
    @discardableResult
    static func finish(base: Int64, end: Int64, directory: String, names: [String], fileSystem: any FileSystem)
        throws -> Bool
    {
        try removeReplaced(base: base, end: end, directory: directory, names: names, fileSystem: fileSystem)
        let rebuild = try moveIndexes(base: base, directory: directory, fileSystem: fileSystem)
        try fileSystem.syncDirectory(directory)
        try moveLog(base: base, end: end, directory: directory, fileSystem: fileSystem)
        try fileSystem.syncDirectory(directory)
        return rebuild
    }

    /// Deletes the files of the old segments with base offsets in `(base, end)`.
    static func removeReplaced(base: Int64, end: Int64, directory: String, names: [String], fileSystem: any FileSystem)
        throws
    {
        for name in names where name.hasSuffix(".log") && name.count == 24 {
            guard let old = Int64(name.dropLast(4)), old > base, old < end else { continue }
            for suffix in [".log", ".index", ".timeindex"] {
                try fileSystem.removeFile(Path.join(directory, Segment.fileName(old, suffix)))
            }
        }
    }

    /// Renames the index `.swap` files over the segment's indexes; where one is missing, deletes
    /// the index (it may be the old segment's) and returns true: rebuild from the log.
    static func moveIndexes(base: Int64, directory: String, fileSystem: any FileSystem) throws -> Bool {
        var rebuild = false
        for suffix in [".index", ".timeindex"] {
            let swapPath = Path.join(directory, Segment.fileName(base, suffix + swapSuffix))
            let finalPath = Path.join(directory, Segment.fileName(base, suffix))
            if fileSystem.fileExists(swapPath) {
                try fileSystem.rename(swapPath, to: finalPath)
            } else {
                try fileSystem.removeFile(finalPath)
                rebuild = true
            }
        }
        return rebuild
    }

    /// Renames `b-end.log.swap` over `b.log`: the last step.
    static func moveLog(base: Int64, end: Int64, directory: String, fileSystem: any FileSystem) throws {
        try fileSystem.rename(
            Path.join(directory, logSwapName(base: base, end: end)),
            to: Path.join(directory, Segment.fileName(base, ".log")))
    }
}
