import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Appends written to the log and not answered yet: their results, and what publishing them
/// makes readable.
struct WrittenGroup {
    var items: [AppendQueue.Pending]
    var results: [Result<AppendResult, LogStoreError>]
    /// The segments the group wrote to, in order (more than one across a roll), and each one's
    /// size after the group's write.
    var touched: [Segment]
    var sizes: [Int]
    /// The log end offset after the group.
    var endOffset: Int64
    /// Under the flush policy `always`: not published or answered until a fdatasync covers it.
    var awaitsSync: Bool

    /// Answers each append with its result.
    func answer() {
        for (item, result) in zip(items, results) { item.continuation?.resume(with: result) }
    }

    /// Fails every append of the group.
    func fail(_ error: any Error) {
        for item in items { item.continuation?.resume(throwing: error) }
    }
}

/// The sync stage of group commit (flush policy `always`).
///
/// The writer hands each group it wrote to the syncer and goes on writing the next one; the
/// syncer issues one fdatasync for every group written before it started, then publishes and
/// answers them in order. So a group's pwrite (on this VM mostly the kernel's copy into fresh
/// page-cache pages) overlaps the previous group's fdatasync instead of adding to it.
///
/// Why one fdatasync of the last group's segment covers all of them: fdatasync makes durable
/// every write that completed before it was called, and a group that ended in an earlier
/// segment had that segment synced by the roll that followed it, before the next group was
/// written (`roll(at:config:)`). A segment is never synced by two threads at once (a roll
/// waits for the syncer first), so a write-back error always reaches the one that acknowledges.
extension Log {
    /// Queues a written group for the syncer and starts it if it is idle (writer queue only).
    func handToSyncer(_ group: WrittenGroup) {
        let start = queue.withLock { queue -> Bool in
            queue.unsynced.append(group)
            if queue.syncing { return false }
            queue.syncing = true
            return true
        }
        if start { syncQueue.async { self.syncLoop() } }
    }

    /// Waits until every group handed to the syncer so far is synced and answered. Called on
    /// the writer queue, where no new group can be handed over meanwhile.
    func awaitSyncs() {
        syncQueue.sync {}
    }

    /// The syncer: takes every written group, syncs once, answers them, and repeats while more
    /// were written in the meantime.
    private func syncLoop() {
        var lastAppends = 0
        while true {
            if lastAppends > 1 && lingerPolicy.shouldLinger() {
                lingerPolicy.lingerEnded(groupFormed: awaitGroup(of: lastAppends))
            }
            let groups = queue.withLock { queue -> [WrittenGroup] in
                let groups = queue.unsynced
                queue.unsynced.removeAll(keepingCapacity: true)
                if groups.isEmpty {
                    queue.syncing = false
                } else {
                    lastAppends = groups.reduce(0) { $0 + $1.items.count }
                    queue.lastGroup = lastAppends
                }
                return groups
            }
            if groups.isEmpty { return }
            do {
                try syncAndPublish(groups)
                for group in groups { group.answer() }
            } catch {
                for group in groups { group.fail(error) }
            }
        }
    }

    /// Group commit under load: the appenders just answered are about to append again, so
    /// give them a moment (at most ``groupLingerNanoseconds``) to be written and join the next
    /// fdatasync rather than each waiting for one of its own. Only after a group of several (a
    /// lone appender never waits), and only while lingers pay (``LingerPolicy``).
    /// - Returns: whether the group formed before the deadline.
    private func awaitGroup(of size: Int) -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.groupLingerNanoseconds
        while queue.withLock({ queue in queue.unsynced.reduce(0) { $0 + $1.items.count } }) < size {
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            usleep(20)
        }
        return true
    }

    /// The longest the syncer lingers for a group to form (200 µs, a tenth of a typical fsync).
    static let groupLingerNanoseconds: UInt64 = 200_000

    /// Makes `groups` durable with one fdatasync and publishes them. A failed fdatasync takes
    /// the partition offline; nothing in `groups` is acknowledged then.
    func syncAndPublish(_ groups: [WrittenGroup]) throws {
        if let error = state.withLock({ state -> LogStoreError? in
            state.offlineError ?? (state.closed ? LogStoreError(.closed, "\(topic)-\(partition) is closed") : nil)
        }) {
            throw error
        }
        guard let segment = groups.last?.touched.last else { return }
        let started = ContinuousClock.now
        do {
            try segment.log.sync()
        } catch {
            throw goOffline(error)
        }
        let took = ContinuousClock.now - started
        lastSyncNanoseconds.store(took.nanoseconds, ordering: .relaxed)
        options.onFsync?(took)
        // A storage failure elsewhere meanwhile (a roll's sync, a seal) may have cost written
        // pages this fdatasync no longer sees: acknowledge nothing once offline.
        if let error = state.withLock({ $0.offlineError }) { throw error }
        publish(groups, durable: true)
    }
}
