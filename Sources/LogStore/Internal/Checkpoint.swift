/// The per-partition checkpoint file: the recovery point (every offset below it is on disk,
/// fsynced) and the log start offset. It is a cache of the log, written crash-safely; when it is
/// missing or unreadable, recovery re-reads the whole log.
struct Checkpoint: Equatable {
    static let fileName = "checkpoint"
    var recoveryPoint: Int64
    var logStartOffset: Int64

    static func read(fileSystem: any FileSystem, directory: String) -> Checkpoint? {
        let path = Path.join(directory, fileName)
        guard fileSystem.fileExists(path), let bytes = try? fileSystem.readContents(of: path) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, fields[0] == "1", let recovery = Int64(fields[1]), let start = Int64(fields[2]),
            recovery >= 0, start >= 0
        else { return nil }
        return Checkpoint(recoveryPoint: recovery, logStartOffset: start)
    }

    func write(fileSystem: any FileSystem, directory: String) throws {
        let text = "1 \(recoveryPoint) \(logStartOffset)\n"
        try fileSystem.writeAtomically(Array(text.utf8), to: Path.join(directory, Self.fileName))
    }
}
