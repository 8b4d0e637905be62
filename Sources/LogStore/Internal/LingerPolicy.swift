/// When the syncer waits for a group to form before its fdatasync (touched only on the log's
/// sync queue).
///
/// Lingering pays when the appenders just answered come straight back (closed loop: a producer
/// waiting for each ack). When appends arrive on their own schedule instead (open loop: events as
/// they happen), the group rarely forms in time and each linger is idle time added to every
/// waiting append's latency. So after `lingerGiveUp` lingers in a row ran out, the syncer stops
/// lingering, and tries once more every `lingerRetryGroups` groups.
final class LingerPolicy: @unchecked Sendable {
    /// Lingers in a row that ran out before their group formed.
    private var lingersMissed = 0
    /// Groups since lingering was given up.
    private var groupsWithoutLinger = 0

    /// Whether to linger before the next fdatasync.
    func shouldLinger() -> Bool {
        guard lingersMissed >= Self.lingerGiveUp else { return true }
        groupsWithoutLinger += 1
        if groupsWithoutLinger < Self.lingerRetryGroups { return false }
        groupsWithoutLinger = 0
        return true
    }

    /// Records how a linger ended: its group formed, or the deadline passed.
    func lingerEnded(groupFormed: Bool) {
        lingersMissed = groupFormed ? 0 : lingersMissed + 1
    }

    static let lingerGiveUp = 4
    static let lingerRetryGroups = 32
}
