import Dispatch
import Logging
import Synchronization

/// Segment rolls, and the checkpoint and producer-state files they leave behind.
///
/// A roll does on the writer only what the next acknowledgement depends on: the old segment's
/// data synced, the new segment's files created and the directory synced. Sealing the old
/// segment's indexes (msync, cut to size, fdatasync: a few ms), the checkpoint and the
/// producer-state snapshot follow on the log's seal queue while appends go on, as Kafka flushes a
/// rolled segment in the background. Until a closed segment is sealed, no checkpoint claims a
/// recovery point past its start (`State.unsealedFrom`), so a crash in between re-reads it and
/// rebuilds its indexes instead of trusting them.
extension Log {
    /// Closes the active segment and starts a new one at `baseOffset` (writer queue only).
    func roll(at baseOffset: Int64, config: LogConfig) throws -> Segment {
        let old = active
        let segment: Segment
        // The syncer may be syncing the old segment right now. Two fdatasyncs of one file at once
        // can split a write-back error between them (Linux reports it to only one caller), and
        // the other would acknowledge lost appends; so let the syncer finish first.
        awaitSyncs()
        do {
            try old.log.sync()
            state.withLock { state in
                old.finishTimeIndex()
                if state.pendingSeals == 0 { state.unsealedFrom = old.baseOffset }
                state.pendingSeals += 1
            }
            segment = try Segment(
                fileSystem: fileSystem, directory: directory, baseOffset: baseOffset, config: config, active: true)
            try fileSystem.syncDirectory(directory)
        } catch {
            throw goOffline(error)
        }
        state.withLock { state in
            state.segments.append(segment)
            state.recoveryPoint = max(state.recoveryPoint, baseOffset)
        }
        // The producers' state as of the new segment's start, taken now, written with the seal.
        let snapshot = ProducerStateSnapshot(offset: baseOffset, table: writerScratch.producers.truncated(before: baseOffset))
        sealQueue.async { self.seal(old, endingAt: baseOffset, snapshot: snapshot) }
        logger.debug("rolled segment", metadata: ["baseOffset": "\(baseOffset)"])
        return segment
    }

    /// Seals a segment that stopped being active (seal queue only): its indexes made durable and
    /// cut to size, then a checkpoint and the producer-state snapshot. Readers are kept out only
    /// while the indexes are remapped.
    private func seal(_ segment: Segment, endingAt end: Int64, snapshot: ProducerStateSnapshot) {
        if state.withLock({ $0.closed || $0.offlineError != nil }) { return }
        do {
            try segment.sealIndexes { swap in state.withLock { _ in swap() } }
        } catch {
            _ = goOffline(error)
            return
        }
        state.withLock { state in
            state.pendingSeals -= 1
            // Seals finish in roll order, and the next closed segment starts where this one ends.
            state.unsealedFrom = state.pendingSeals == 0 ? nil : end
        }
        writeCheckpoint(nil)
        writeProducerSnapshot(snapshot)
    }

    /// Waits until every rolled segment is sealed (before closing).
    func awaitSeals() {
        sealQueue.sync {}
    }

    /// Persists the producer state as of `offset` (writer queue only); a failure only costs a
    /// longer rebuild on the next open.
    func writeProducerSnapshot(at offset: Int64) {
        writeProducerSnapshot(ProducerStateSnapshot(offset: offset, table: writerScratch.producers.truncated(before: offset)))
    }

    private func writeProducerSnapshot(_ snapshot: ProducerStateSnapshot) {
        do {
            try checkpointLock.withLock { _ in try snapshot.write(fileSystem: fileSystem, directory: directory) }
        } catch {
            logger.warning("cannot write the producer-state snapshot", metadata: ["error": "\(error)"])
        }
    }

    /// Persists a checkpoint (nil: the log's current recovery point and start offset). Its
    /// recovery point never passes a closed segment whose indexes are not sealed yet. A failure
    /// only costs a longer recovery next time.
    func writeCheckpoint(_ checkpoint: Checkpoint?) {
        checkpointLock.withLock { _ in
            let checkpoint = state.withLock { state in
                var checkpoint =
                    checkpoint ?? Checkpoint(recoveryPoint: state.recoveryPoint, logStartOffset: state.logStartOffset)
                if let unsealed = state.unsealedFrom {
                    checkpoint.recoveryPoint = min(checkpoint.recoveryPoint, unsealed)
                }
                return checkpoint
            }
            do {
                try checkpoint.write(fileSystem: fileSystem, directory: directory)
                state.withLock { $0.checkpointed = checkpoint }
            } catch {
                logger.warning("cannot write checkpoint", metadata: ["error": "\(error)"])
            }
        }
    }
}
