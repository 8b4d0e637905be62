/// The per-partition `cleaner-offset` file: the boundary between the clean and the dirty part of
/// a compacted log, and when each earlier boundary was reached (so that a tombstone can be kept
/// for `delete.retention.ms` after it entered the clean range). A cache like the checkpoint:
/// missing or unreadable means "nothing is clean yet", which only costs a longer next pass.
///
/// Format (ASCII): `1 <cleanerOffset>\n`, then one `<offset> <ms since the epoch>\n` line per
/// earlier pass: "every offset below <offset> was clean at <ms>", oldest first.
struct CleanerCheckpoint: Equatable {
    static let fileName = "cleaner-offset"
    /// Lines of history kept; when more passes happen, the oldest lines go (which only keeps
    /// tombstones longer, never shorter).
    static let maxHistory = 64

    /// Every offset below this has been compacted.
    var cleanerOffset: Int64 = 0
    /// (offset, time): offsets below `offset` were in the clean range at `time`.
    var history: [(offset: Int64, time: Int64)] = []

    static func == (a: Self, b: Self) -> Bool {
        a.cleanerOffset == b.cleanerOffset && a.history.elementsEqual(b.history, by: { $0 == $1 })
    }

    /// The offset below which tombstones have been clean since `horizon` or earlier.
    func tombstoneHorizon(cleanBefore horizon: Int64) -> Int64 {
        history.last(where: { $0.time <= horizon })?.offset ?? 0
    }

    /// Records a pass that made everything below `offset` clean at `time`.
    mutating func advance(to offset: Int64, at time: Int64) {
        cleanerOffset = max(cleanerOffset, offset)
        history.append((cleanerOffset, time))
        if history.count > Self.maxHistory { history.removeFirst(history.count - Self.maxHistory) }
    }

    static func read(fileSystem: any FileSystem, directory: String) -> CleanerCheckpoint? {
        let path = Path.join(directory, fileName)
        guard fileSystem.fileExists(path), let bytes = try? fileSystem.readContents(of: path) else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard let first = lines.first?.split(separator: " "), first.count == 2, first[0] == "1",
            let offset = Int64(first[1]), offset >= 0
        else { return nil }
        var checkpoint = CleanerCheckpoint(cleanerOffset: offset)
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let at = Int64(fields[0]), let time = Int64(fields[1]) else { return nil }
            checkpoint.history.append((at, time))
        }
        return checkpoint
    }

    func write(fileSystem: any FileSystem, directory: String) throws {
        var text = "1 \(cleanerOffset)\n"
        for entry in history { text += "\(entry.offset) \(entry.time)\n" }
        try fileSystem.writeAtomically(Array(text.utf8), to: Path.join(directory, Self.fileName))
    }

    /// The checkpoint for a log whose offsets now span [start, end): offsets past the end
    /// (truncated by recovery) are no longer clean.
    func clamped(logStart start: Int64, logEnd end: Int64) -> CleanerCheckpoint {
        var copy = self
        copy.cleanerOffset = min(max(cleanerOffset, start), end)
        copy.history = history.map { (min($0.offset, copy.cleanerOffset), $0.time) }
        return copy
    }
}
