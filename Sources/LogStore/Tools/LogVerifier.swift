/// Checks every segment of a data directory offline: batch framing and CRCs, record layout,
/// offsets that only grow, and that both indexes agree with the log.
public struct LogVerifier {
    /// One thing found wrong.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var file: String
        /// Byte position in the file, where it helps.
        public var position: Int?
        public var message: String
        public var description: String {
            position.map { "\(file) at byte \($0): \(message)" } ?? "\(file): \(message)"
        }
    }

    /// What one verification run saw.
    public struct Report: Sendable {
        public var partitions = 0
        public var segments = 0
        public var batches = 0
        public var records = 0
        public var bytes = 0
        public var problems: [Problem] = []
        public var isHealthy: Bool { problems.isEmpty }
    }

    let fileSystem: any FileSystem

    public init(fileSystem: any FileSystem = PosixFileSystem()) {
        self.fileSystem = fileSystem
    }

    /// Verifies every partition directory of `dataDirectory` (only `topic`'s when given).
    public func verify(dataDirectory: String, topic: String? = nil) throws -> Report {
        var report = Report()
        for name in try fileSystem.contentsOfDirectory(dataDirectory) {
            let path = Path.join(dataDirectory, name)
            guard fileSystem.isDirectory(path), let dash = name.lastIndex(of: "-"),
                Int(name[name.index(after: dash)...]) != nil
            else { continue }
            if let topic, String(name[..<dash]) != topic { continue }
            report.partitions += 1
            try verifyPartition(path, into: &report)
        }
        return report
    }

    /// Verifies one partition directory.
    public func verifyPartition(_ directory: String, into report: inout Report) throws {
        let bases = try fileSystem.contentsOfDirectory(directory)
            .filter { $0.hasSuffix(".log") && $0.count == 24 }
            .compactMap { Int64($0.dropLast(4)) }
            .sorted()
        var previousEnd: Int64?
        for base in bases {
            report.segments += 1
            previousEnd = try verifySegment(
                directory: directory, baseOffset: base, previousEnd: previousEnd, into: &report)
        }
    }

    private func verifySegment(
        directory: String, baseOffset: Int64, previousEnd: Int64?, into report: inout Report
    ) throws -> Int64? {
        let logPath = Path.join(directory, Segment.fileName(baseOffset, ".log"))
        var reader = try SegmentFileReader(path: logPath, fileSystem: fileSystem)
        report.bytes += reader.size
        var batchStarts: [Int: RecordBatchHeader] = [:]
        var expected = previousEnd ?? baseOffset
        var maxTimestampUpTo: [(offset: Int64, maxTimestamp: Int64)] = []
        var runningMax: Int64 = -1
        var end: Int64?
        while let entry = try reader.next() {
            switch entry {
            case .invalid(let position, let reason):
                report.problems.append(Problem(file: logPath, position: position, message: reason))
            case .batch(let position, let header, let bytes):
                report.batches += 1
                if header.baseOffset < expected {
                    report.problems.append(
                        Problem(
                            file: logPath, position: position,
                            message: "offset \(header.baseOffset) is below the previous batch's end \(expected)"))
                }
                do {
                    let records = try bytes.withUnsafeBytes { try RecordBatch.decode($0) }
                    report.records += records.count
                    if records.count != Int(header.recordCount) {
                        report.problems.append(
                            Problem(file: logPath, position: position, message: "record count does not match"))
                    }
                } catch {
                    report.problems.append(Problem(file: logPath, position: position, message: "\(error)"))
                }
                batchStarts[position] = header
                expected = header.lastOffset + 1
                end = expected
                runningMax = max(runningMax, header.maxTimestamp)
                maxTimestampUpTo.append((header.lastOffset, runningMax))
            }
        }
        try verifyOffsetIndex(directory: directory, baseOffset: baseOffset, batchStarts: batchStarts, into: &report)
        try verifyTimeIndex(
            directory: directory, baseOffset: baseOffset, maxTimestampUpTo: maxTimestampUpTo, into: &report)
        return end ?? previousEnd
    }

    // MARK: - Repair

    /// What ``repair(dataDirectory:topic:)`` changed.
    public struct RepairReport: Sendable {
        /// A partition cut at its first bad batch.
        public struct Truncation: Sendable, Hashable, CustomStringConvertible {
            public var file: String
            public var position: Int
            public var reason: String
            /// Bytes cut from that file plus the bytes of the later segments deleted.
            public var bytesDropped: Int
            /// The first offset no longer in the log (the bad batch's, when its header is readable;
            /// otherwise the end of the last good batch).
            public var firstOffsetDropped: Int64?
            public var segmentsDeleted: [String]
            public var description: String {
                "\(file) cut at byte \(position) (\(reason)): \(bytesDropped) bytes dropped"
                    + (firstOffsetDropped.map { ", offsets from \($0) on" } ?? "")
                    + (segmentsDeleted.isEmpty ? "" : ", later segments deleted: \(segmentsDeleted.joined(separator: ", "))")
            }
        }
        public var partitions = 0
        public var truncations: [Truncation] = []
        /// Segments (their .log paths) whose .index and .timeindex were rebuilt.
        public var indexesRebuilt: [String] = []
        /// Interrupted compaction swaps finished (their directories).
        public var swapsFinished: [String] = []
        public var changedAnything: Bool { !truncations.isEmpty || !indexesRebuilt.isEmpty || !swapsFinished.isEmpty }
    }

    /// Repairs every partition of a stopped hub's data directory (only `topic`'s when given):
    /// finishes or rolls back an interrupted compaction swap, truncates each partition at its
    /// first bad batch (deleting later segments), and rebuilds every index that does not match
    /// its log. Takes the data directory's lock for the duration.
    /// - Throws: `dataDirectoryLocked` while a hub (or another tool) holds the directory.
    public func repair(dataDirectory: String, topic: String? = nil) throws -> RepairReport {
        let lock = try fileSystem.lockFile(Path.join(dataDirectory, LogManager.lockName))
        defer { withExtendedLifetime(lock) {} }
        var report = RepairReport()
        for name in try fileSystem.contentsOfDirectory(dataDirectory) {
            let path = Path.join(dataDirectory, name)
            guard fileSystem.isDirectory(path), let dash = name.lastIndex(of: "-"),
                Int(name[name.index(after: dash)...]) != nil, !name.hasPrefix(".")
            else { continue }
            if let topic, String(name[..<dash]) != topic { continue }
            report.partitions += 1
            try repairPartition(path, into: &report)
        }
        if report.changedAnything {
            // The next open must not trust what the hub knew before: run recovery.
            try fileSystem.removeFile(Path.join(dataDirectory, LogManager.cleanShutdownMarker))
            try fileSystem.syncDirectory(dataDirectory)
        }
        return report
    }

    private func repairPartition(_ directory: String, into report: inout RepairReport) throws {
        let rebuild = try SegmentSwap.recover(directory: directory, fileSystem: fileSystem) { _ in }
        if !rebuild.isEmpty { report.swapsFinished.append(directory) }
        let bases = try fileSystem.contentsOfDirectory(directory)
            .filter { $0.hasSuffix(".log") && $0.count == 24 }
            .compactMap { Int64($0.dropLast(4)) }
            .sorted()
        var previousEnd: Int64?
        var config = LogConfig()
        config.segmentIndexBytes = 10 << 20
        for (i, base) in bases.enumerated() {
            let logPath = Path.join(directory, Segment.fileName(base, ".log"))
            var segmentReport = Report()
            let end = try verifySegment(
                directory: directory, baseOffset: base, previousEnd: previousEnd, into: &segmentReport)
            let bad = segmentReport.problems.filter { $0.file == logPath && $0.position != nil }
                .min { $0.position! < $1.position! }
            let indexBad = segmentReport.problems.contains { $0.file != logPath }
            if let bad, let position = bad.position {
                let handle = try fileSystem.openFile(logPath, create: false)
                var dropped = Int(try handle.size()) - position
                var firstDropped: Int64? = end
                if let header = try? handle.readExactly(count: RecordBatchHeader.size, at: Int64(position)).withUnsafeBytes({
                    RecordBatchHeader(parsing: $0)
                }), header.magic == 2 {
                    firstDropped = header.baseOffset
                }
                try handle.truncate(to: Int64(position))
                try handle.sync()
                var deleted: [String] = []
                for later in bases[(i + 1)...] {
                    let laterLog = Path.join(directory, Segment.fileName(later, ".log"))
                    dropped += Int((try? fileSystem.openFile(laterLog, create: false).size()) ?? 0)
                    for suffix in [".log", ".index", ".timeindex"] {
                        try fileSystem.removeFile(Path.join(directory, Segment.fileName(later, suffix)))
                    }
                    deleted.append(laterLog)
                }
                try fileSystem.syncDirectory(directory)
                report.truncations.append(
                    RepairReport.Truncation(
                        file: logPath, position: position, reason: bad.message, bytesDropped: dropped,
                        firstOffsetDropped: firstDropped, segmentsDeleted: deleted))
                try rebuildIndexes(directory: directory, base: base, config: config, minimumOffset: previousEnd)
                report.indexesRebuilt.append(logPath)
                return
            }
            if indexBad || rebuild.contains(base) {
                try rebuildIndexes(directory: directory, base: base, config: config, minimumOffset: previousEnd)
                report.indexesRebuilt.append(logPath)
            }
            previousEnd = end
        }
    }

    /// Rewrites a segment's two indexes from its log (the segment's bytes must all be valid).
    private func rebuildIndexes(directory: String, base: Int64, config: LogConfig, minimumOffset: Int64?) throws {
        for suffix in [".index", ".timeindex"] {
            try fileSystem.removeFile(Path.join(directory, Segment.fileName(base, suffix)))
        }
        let segment = try Segment(
            fileSystem: fileSystem, directory: directory, baseOffset: base, config: config, active: true)
        _ = try segment.recover(truncate: false, config: config, minimumOffset: minimumOffset)
        try segment.seal()
        try fileSystem.syncDirectory(directory)
    }

    private func readEntries(_ path: String, entrySize: Int, into report: inout Report) throws -> [UInt8]? {
        guard fileSystem.fileExists(path) else {
            report.problems.append(Problem(file: path, position: nil, message: "index file is missing"))
            return nil
        }
        var bytes = try fileSystem.readContents(of: path)
        if bytes.count % entrySize != 0 {
            report.problems.append(
                Problem(file: path, position: nil, message: "length \(bytes.count) is not a multiple of \(entrySize)"))
            bytes.removeLast(bytes.count % entrySize)
        }
        return bytes
    }

    private func verifyOffsetIndex(
        directory: String, baseOffset: Int64, batchStarts: [Int: RecordBatchHeader], into report: inout Report
    ) throws {
        let path = Path.join(directory, Segment.fileName(baseOffset, ".index"))
        guard let bytes = try readEntries(path, entrySize: OffsetIndex.entrySize, into: &report) else { return }
        var previous: (Int64, Int) = (baseOffset - 1, -1)
        bytes.withUnsafeBytes { raw in
            for i in 0..<(raw.count / OffsetIndex.entrySize) {
                let at = i * OffsetIndex.entrySize
                let offset = baseOffset + Int64(UInt32(bitPattern: raw.int32(at: at)))
                let position = Int(UInt32(bitPattern: raw.int32(at: at + 4)))
                // An active segment's index (room reserved ahead) ends in zero entries after a crash
                // (a real entry never has position 0: the first batch is never indexed).
                if offset == baseOffset && position == 0 { break }
                if offset <= previous.0 || position <= previous.1 {
                    report.problems.append(
                        Problem(file: path, position: at, message: "entry \(i) (\(offset), \(position)) does not grow"))
                } else if let header = batchStarts[position] {
                    if header.lastOffset != offset {
                        report.problems.append(
                            Problem(
                                file: path, position: at,
                                message: "entry \(i) says offset \(offset) but the batch there ends at \(header.lastOffset)"))
                    }
                } else {
                    report.problems.append(
                        Problem(file: path, position: at, message: "entry \(i) points at \(position), not a batch start"))
                }
                previous = (offset, position)
            }
        }
    }

    private func verifyTimeIndex(
        directory: String, baseOffset: Int64, maxTimestampUpTo: [(offset: Int64, maxTimestamp: Int64)],
        into report: inout Report
    ) throws {
        let path = Path.join(directory, Segment.fileName(baseOffset, ".timeindex"))
        guard let bytes = try readEntries(path, entrySize: TimeIndex.entrySize, into: &report) else { return }
        var previous = Int64.min
        bytes.withUnsafeBytes { raw in
            for i in 0..<(raw.count / TimeIndex.entrySize) {
                let at = i * TimeIndex.entrySize
                let timestamp = raw.int64(at: at)
                let offset = baseOffset + Int64(UInt32(bitPattern: raw.int32(at: at + 8)))
                if timestamp == 0 && offset == baseOffset && (i > 0 || maxTimestampUpTo.first?.maxTimestamp != 0) {
                    break
                }
                if timestamp <= previous {
                    report.problems.append(Problem(file: path, position: at, message: "entry \(i) timestamp does not grow"))
                }
                if let known = maxTimestampUpTo.first(where: { $0.offset >= offset }), known.offset == offset {
                    if timestamp != known.maxTimestamp {
                        report.problems.append(
                            Problem(
                                file: path, position: at,
                                message: "entry \(i) says \(timestamp) at offset \(offset); the log says \(known.maxTimestamp)"))
                    }
                } else {
                    report.problems.append(
                        Problem(file: path, position: at, message: "entry \(i) names offset \(offset), not a batch end"))
                }
                previous = timestamp
            }
        }
    }
}
