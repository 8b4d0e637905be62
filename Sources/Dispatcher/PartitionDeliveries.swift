import LogStore

/// One event waiting to be delivered (or being delivered) to a subscription.
struct PendingDelivery: Sendable {
    var record: Record
    var partition: Int
    /// Attempts made so far.
    var attempts: Int
    /// Milliseconds since the epoch before which no attempt starts (0: now).
    var nextAttemptAt: Int64
    var inFlight = false
    var lastError: String?

    var offset: Int64 { record.offset }
}

/// The delivery bookkeeping of one subscription in one partition: what was read, what is still
/// unfinished, which deliveries may start under the ordering rule, and the cursor to commit.
/// Pure state, no I/O (the ``DeliveryWindow`` drives it).
struct PartitionDeliveries: Sendable {
    let partition: Int
    /// Where reading stops, for a range with an end (a dead-letter redrive).
    let limit: Int64?
    /// The next offset to read from the log.
    private(set) var nextRead: Int64
    /// Unfinished deliveries by offset, and their offsets in increasing order.
    private(set) var pending: [Int64: PendingDelivery] = [:]
    private(set) var order: [Int64] = []
    /// Bytes of record values held by `pending`.
    private(set) var pendingBytes = 0
    /// Deliveries waiting for a retry, and when each is due (kept apart so that finding the
    /// next due time does not walk every pending delivery).
    private var waiting: [Int64: Int64] = [:]
    /// From a committed cursor: offsets below this were read before the restart...
    private var restoredEnd: Int64
    /// ...and these of them were still unfinished, with their retry state.
    private var restored: [Int64: SubscriptionCursor.PendingRetry]

    /// Starts at `cursor` (a committed one, or a fresh start offset).
    init(partition: Int, cursor: SubscriptionCursor) {
        self.partition = partition
        limit = cursor.limit
        nextRead = cursor.offset
        restoredEnd = cursor.end ?? cursor.offset
        restored = Dictionary(cursor.pending.map { ($0.offset, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether everything up to the limit has been read.
    var readAll: Bool { limit.map { nextRead >= $0 } ?? false }

    /// The lowest unfinished offset (the cursor to commit).
    var cursor: Int64 { order.first ?? nextRead }

    /// Takes a record read from the log. Records that finished before a restart, or that the
    /// subscription does not want (`accepted` false), finish at once.
    mutating func add(_ record: Record, accepted: Bool) {
        guard record.offset >= nextRead else { return }
        nextRead = record.offset + 1
        var attempts = 0
        var nextAttemptAt: Int64 = 0
        if record.offset < restoredEnd {
            guard let retry = restored.removeValue(forKey: record.offset) else { return }
            attempts = retry.attempts
            nextAttemptAt = retry.nextAttemptAt
        }
        guard accepted else { return }
        pending[record.offset] = PendingDelivery(
            record: record, partition: partition, attempts: attempts, nextAttemptAt: nextAttemptAt)
        if nextAttemptAt > 0 { waiting[record.offset] = nextAttemptAt }
        order.append(record.offset)
        pendingBytes += record.value?.count ?? 0
    }

    /// Moves past offsets the log no longer has (retention or compaction removed them) or that
    /// a read skipped (compaction gaps): they count as finished.
    mutating func skip(to offset: Int64) {
        if offset > nextRead { nextRead = offset }
    }

    /// Offsets of deliveries that may start now under `ordering`, lowest first, at most `limit`.
    func startable(ordering: Subscription.Ordering, now: Int64, limit: Int) -> [Int64] {
        guard limit > 0 else { return [] }
        var result: [Int64] = []
        switch ordering {
        case .strict:
            if let first = order.first, let delivery = pending[first], !delivery.inFlight,
                delivery.nextAttemptAt <= now
            {
                result.append(first)
            }
        case .none:
            for offset in order {
                guard let delivery = pending[offset], !delivery.inFlight, delivery.nextAttemptAt <= now else { continue }
                result.append(offset)
                if result.count == limit { break }
            }
        case .key:
            // A keyed record waits for every earlier unfinished record with its key.
            var blocked = Set<[UInt8]>()
            for offset in order {
                guard let delivery = pending[offset] else { continue }
                guard let key = delivery.record.key else {
                    if !delivery.inFlight && delivery.nextAttemptAt <= now { result.append(offset) }
                    if result.count == limit { break }
                    continue
                }
                let first = blocked.insert(key).inserted
                if first && !delivery.inFlight && delivery.nextAttemptAt <= now {
                    result.append(offset)
                    if result.count == limit { break }
                }
            }
        }
        return result
    }

    /// The earliest time after `now` at which a waiting retry becomes due. (Retries already due
    /// that could not start wait for capacity or ordering, whose changes schedule anyway.)
    func nextDue(after now: Int64) -> Int64? {
        var earliest: Int64?
        for due in waiting.values where due > now { earliest = min(earliest ?? .max, due) }
        return earliest
    }

    /// Deliveries waiting for their next attempt.
    var waitingCount: Int { waiting.count }

    mutating func markInFlight(_ offset: Int64) -> PendingDelivery? {
        pending[offset]?.inFlight = true
        waiting.removeValue(forKey: offset)
        return pending[offset]
    }

    /// A delivery finished (delivered or dead-lettered): it leaves the window.
    mutating func finish(_ offset: Int64) {
        waiting.removeValue(forKey: offset)
        guard let removed = pending.removeValue(forKey: offset) else { return }
        pendingBytes -= removed.record.value?.count ?? 0
        if let index = binarySearch(offset) { order.remove(at: index) }
    }

    /// An attempt failed; the delivery waits until `nextAttemptAt`.
    mutating func retry(_ offset: Int64, attempts: Int, nextAttemptAt: Int64, error: String) {
        guard pending[offset] != nil else { return }
        pending[offset]?.inFlight = false
        pending[offset]?.attempts = attempts
        pending[offset]?.nextAttemptAt = nextAttemptAt
        pending[offset]?.lastError = error
        waiting[offset] = nextAttemptAt
    }

    /// An attempt was abandoned (shutdown, pause): the delivery is due again, attempts unchanged.
    mutating func release(_ offset: Int64) {
        pending[offset]?.inFlight = false
        if let due = pending[offset]?.nextAttemptAt, due > 0 { waiting[offset] = due }
    }

    /// What to commit: the cursor, what was read, and the unfinished deliveries' retry state.
    func snapshot(now: Int64) -> SubscriptionCursor {
        var retries = order.compactMap { offset -> SubscriptionCursor.PendingRetry? in
            guard let delivery = pending[offset] else { return nil }
            return .init(offset: offset, attempts: delivery.attempts, nextAttemptAt: delivery.nextAttemptAt)
        }
        // Restored deliveries not read again yet are still unfinished.
        var end = nextRead
        if restoredEnd > nextRead {
            end = restoredEnd
            retries += restored.values.filter { $0.offset >= nextRead }.sorted { $0.offset < $1.offset }
        }
        let offset = min(cursor, retries.first?.offset ?? cursor)
        return SubscriptionCursor(offset: offset, end: end, pending: retries, limit: limit, updatedAt: now)
    }

    private func binarySearch(_ offset: Int64) -> Int? {
        var low = 0
        var high = order.count
        while low < high {
            let middle = (low + high) / 2
            if order[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low < order.count && order[low] == offset ? low : nil
    }
}
