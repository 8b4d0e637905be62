import Foundation

/// A callback URL subscribed to a topic: what to deliver, where, how, and how it is going.
/// Stored as JSON in the compacted internal topic `__subscriptions` (key = id).
public struct Subscription: Sendable, Codable, Hashable {
    /// How deliveries of one subscription may overlap.
    public enum Ordering: String, Sendable, Codable, Hashable, CaseIterable {
        /// Any order, up to `maxInFlight` at once.
        case none
        /// A record waits until every earlier record with the same key in its partition finished.
        case key
        /// One at a time per partition.
        case strict
    }

    /// Whether the Dispatcher delivers to the subscription.
    public enum State: String, Sendable, Codable, Hashable, CaseIterable {
        case active
        /// Stopped by its owner; the cursor stays where it is.
        case paused
        /// Deliveries keep failing; the Dispatcher probes at the backoff rate.
        case failing
        /// Stopped after failing too long or after a 410; resumed by its owner.
        case disabled
    }

    /// A signing secret that is being replaced: receivers get its signature too until `expiresAt`.
    public struct RetiredSecret: Sendable, Codable, Hashable {
        public var secret: String
        public var expiresAt: Date

        public init(secret: String, expiresAt: Date) {
            self.secret = secret
            self.expiresAt = expiresAt
        }
    }

    public var id: String
    public var topic: String
    public var url: String
    /// `ce_type` values to deliver; empty = every event, including those without `ce_type`.
    public var eventTypes: [String]
    public var ordering: Ordering
    public var maxInFlight: Int
    /// Delays between attempts; nil = the server's default schedule.
    public var retrySchedule: RetrySchedule?
    /// The first offset of each partition to deliver, fixed when the subscription was created
    /// (so `latest` means "from the moment of subscribing", also after a restart).
    public var startOffsets: [Int: Int64]
    /// The Standard Webhooks secret, `whsec_` + base64 of the key.
    public var secret: String
    /// Secrets rotated out in the last 24 hours, still signed with.
    public var retiredSecrets: [RetiredSecret]
    /// Extra request headers sent with every delivery.
    public var headers: [String: String]
    public var description: String?
    public var state: State
    /// Why the subscription is failing or disabled.
    public var stateReason: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, topic: String, url: String, eventTypes: [String] = [], ordering: Ordering = .none,
        maxInFlight: Int = Subscription.defaultMaxInFlight, retrySchedule: RetrySchedule? = nil,
        startOffsets: [Int: Int64] = [:], secret: String, retiredSecrets: [RetiredSecret] = [],
        headers: [String: String] = [:], description: String? = nil, state: State = .active,
        stateReason: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.topic = topic
        self.url = url
        self.eventTypes = eventTypes
        self.ordering = ordering
        self.maxInFlight = maxInFlight
        self.retrySchedule = retrySchedule
        self.startOffsets = startOffsets
        self.secret = secret
        self.retiredSecrets = retiredSecrets
        self.headers = headers
        self.description = description
        self.state = state
        self.stateReason = stateReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public static let defaultMaxInFlight = 16
    /// The largest `maxInFlight` accepted (the per-origin limit caps it further in practice).
    public static let maxInFlightLimit = 1024
    /// How long a rotated-out secret still signs.
    public static let secretOverlap: TimeInterval = 24 * 3600

    /// A new subscription id: `sub_` and 24 hex digits of randomness.
    public static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = UInt64.random(in: .min ... .max, using: &generator)
        let low = UInt32.random(in: .min ... .max, using: &generator)
        return "sub_" + hex(high, digits: 16) + hex(UInt64(low), digits: 8)
    }

    /// Whether an event with `ce_type` `type` (nil when it has none) is delivered.
    public func accepts(eventType type: String?) -> Bool {
        if eventTypes.isEmpty { return true }
        guard let type else { return false }
        return eventTypes.contains(type)
    }

    /// The secrets to sign with at `now`: the current one first, then unexpired retired ones.
    public func signingSecrets(at now: Date) -> [String] {
        [secret] + retiredSecrets.filter { $0.expiresAt > now }.map(\.secret)
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
