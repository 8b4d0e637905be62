import Dispatch
import Logging
import Synchronization

extension Log {
    /// Opens (creating if needed) the log in `directory`.
    ///
    /// After a clean shutdown the index files are trusted (and sanity-checked). Otherwise every
    /// segment from the one holding the checkpointed recovery point on is re-read with CRC checks;
    /// the first bad batch and everything after it is truncated, and those segments' indexes are
    /// rebuilt. Segments before the recovery point are not read.
    static func open(
        topic: String, partition: Int, directory: String, config: LogConfig, fileSystem: any FileSystem,
        options: LogOptions, cleanShutdown: Bool
    ) throws -> Log {
        try fileSystem.createDirectory(directory)
        var logger = options.logger
        logger[metadataKey: "partition"] = "\(topic)-\(partition)"
        // A compaction cut short: roll back before its commit point, finish after it.
        let rebuildIndexes = try SegmentSwap.recover(directory: directory, fileSystem: fileSystem) { [logger] in
            logger.warning("\($0)")
        }
        let names = try fileSystem.contentsOfDirectory(directory)
        var bases: [Int64] = []
        for name in names {
            if name.hasSuffix(".log"), let base = Int64(name.dropLast(4)), name.count == 24 {
                bases.append(base)
            } else if name.hasPrefix(Path.temporaryPrefix) {
                try fileSystem.removeFile(Path.join(directory, name))
            }
        }
        bases.sort()
        // Index files without a log (a crash between deleting files) are leftovers.
        let baseSet = Set(bases)
        for name in names where name.hasSuffix(".index") || name.hasSuffix(".timeindex") {
            let stem = name.split(separator: ".").first.map(String.init) ?? ""
            if let base = Int64(stem), !baseSet.contains(base) {
                try fileSystem.removeFile(Path.join(directory, name))
            }
        }

        let checkpoint = Checkpoint.read(fileSystem: fileSystem, directory: directory)
        var segments: [Segment] = []
        if bases.isEmpty {
            let base = checkpoint?.logStartOffset ?? 0
            segments.append(
                try Segment(fileSystem: fileSystem, directory: directory, baseOffset: base, config: config, active: true))
            try fileSystem.syncDirectory(directory)
        } else {
            let recoveryPoint = cleanShutdown ? Int64.max : (checkpoint?.recoveryPoint ?? 0)
            // Recovery starts at the segment that holds the recovery point (or the last one).
            let firstToRecover =
                cleanShutdown ? bases.count : (bases.lastIndex(where: { $0 <= recoveryPoint }) ?? 0)
            var previousEnd: Int64?
            for (i, base) in bases.enumerated() {
                let isLast = i == bases.count - 1
                let recovering = i >= firstToRecover
                let segment = try Segment(
                    fileSystem: fileSystem, directory: directory, baseOffset: base, config: config,
                    active: recovering)
                if recovering {
                    let result = try segment.recover(truncate: true, config: config, minimumOffset: previousEnd)
                    try segment.flush()
                    if let reason = result.reason {
                        logger.warning(
                            "recovery truncated the log",
                            metadata: ["reason": "\(reason)", "bytesDropped": "\(result.truncatedBytes)"])
                    }
                    segments.append(segment)
                    if result.reason != nil && !isLast {
                        // Everything after the first bad batch goes, later segments included.
                        for later in bases[(i + 1)...] {
                            logger.warning("recovery removed a segment after the bad batch", metadata: ["baseOffset": "\(later)"])
                            for suffix in [".log", ".index", ".timeindex"] {
                                try fileSystem.removeFile(Path.join(directory, Segment.fileName(later, suffix)))
                            }
                        }
                        try fileSystem.syncDirectory(directory)
                        break
                    }
                    if !isLast { try segment.seal() }
                } else {
                    try segment.restoreFromIndexes(
                        config: config, truncateOnFailure: isLast, rebuild: rebuildIndexes.contains(base))
                    segments.append(segment)
                }
                previousEnd = segment.nextOffset
            }
            let last = segments.last!
            if firstToRecover >= segments.count {
                try last.unseal(config: config)
            }
        }

        let end = segments.last!.nextOffset
        let logStart = max(checkpoint?.logStartOffset ?? 0, segments.first!.baseOffset)
        var state = State(
            config: config, segments: segments, logStartOffset: min(logStart, end), logEndOffset: end,
            highWatermark: end, recoveryPoint: end,
            checkpointed: checkpoint ?? Checkpoint(recoveryPoint: 0, logStartOffset: 0))
        state.cleaner = (CleanerCheckpoint.read(fileSystem: fileSystem, directory: directory) ?? CleanerCheckpoint())
            .clamped(logStart: min(logStart, end), logEnd: end)
        let log = Log(
            topic: topic, partition: partition, directory: directory, fileSystem: fileSystem, options: options,
            state: state)
        let now = Checkpoint(recoveryPoint: end, logStartOffset: min(logStart, end))
        if now != checkpoint { log.writeCheckpoint(now) }
        log.writerScratch.producers = try restoreProducerState(
            fileSystem: fileSystem, directory: directory, segments: segments, logStart: min(logStart, end), end: end)
        return log
    }

    /// Idempotent producers' state: the snapshot, then every batch after it replayed from the
    /// log (only headers are read; after a clean shutdown there is nothing to replay).
    private static func restoreProducerState(
        fileSystem: any FileSystem, directory: String, segments: [Segment], logStart: Int64, end: Int64
    ) throws -> ProducerStateTable {
        let snapshot = ProducerStateSnapshot.read(fileSystem: fileSystem, directory: directory)
        var table = snapshot?.table ?? ProducerStateTable()
        var from = snapshot?.offset ?? logStart
        if from > end {
            // The snapshot saw batches a crash took back.
            table = table.truncated(before: end)
            from = end
        }
        for segment in segments where segment.nextOffset > from {
            let start = segment.baseOffset >= from ? 0 : segment.offsetIndex.lookup(from)
            var scanner = BatchScanner(handle: segment.log, from: start, to: segment.size, checkCRC: false)
            while case .batch(let header, _) = try scanner.next() {
                if header.baseOffset >= from { table.record(header) }
            }
        }
        return table
    }

    /// Writes everything queued, seals the active segment, checkpoints, and refuses further use.
    /// Readers that still hold data keep it.
    public func close() async {
        queue.withLock { $0.closing = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            runOnWriter {
                self.drain()
                self.closeOnWriter()
                continuation.resume()
            }
        }
    }

    private func closeOnWriter() {
        awaitSyncs()
        awaitSeals()
        let (segment, usable, checkpoint) = state.withLock { state in
            (
                state.segments.last!, !state.closed && state.offlineError == nil,
                Checkpoint(recoveryPoint: state.logEndOffset, logStartOffset: state.logStartOffset)
            )
        }
        if usable {
            do {
                try segment.log.sync()
                state.withLock { _ in segment.finishTimeIndex() }
                try segment.sealIndexes { swap in state.withLock { _ in swap() } }
                writeCheckpoint(checkpoint)
                writeProducerSnapshot(at: checkpoint.recoveryPoint)
            } catch {
                _ = goOffline(error)
            }
        }
        state.withLock { $0.closed = true }
        waiters.close()
    }

    /// Whether the log closed cleanly (everything synced, checkpoint written).
    var closedCleanly: Bool {
        state.withLock { $0.closed && $0.offlineError == nil && $0.checkpointed.recoveryPoint == $0.logEndOffset }
    }
}
