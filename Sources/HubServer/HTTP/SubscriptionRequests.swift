import Dispatcher
import Foundation

/// Where a new subscription starts: `"latest"`, `"earliest"`, an RFC 3339 time, or
/// `{"<partition>": offset}`.
enum StartPosition: Decodable, Sendable {
    case latest
    case earliest
    case time(Date)
    case offsets([Int: Int64])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            switch text {
            case "latest": self = .latest
            case "earliest": self = .earliest
            default:
                guard let date = parseTimestamp(text) else {
                    throw DecodingError.dataCorruptedError(
                        in: container,
                        debugDescription: "use \"latest\", \"earliest\", an RFC 3339 time or {\"<partition>\": offset}")
                }
                self = .time(date)
            }
            return
        }
        guard let map = try? container.decode([String: Int64].self) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "use \"latest\", \"earliest\", an RFC 3339 time or {\"<partition>\": offset}")
        }
        var offsets: [Int: Int64] = [:]
        for (key, offset) in map {
            guard let partition = Int(key), partition >= 0, offset >= 0 else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "partitions and offsets are non-negative integers ('\(key)': \(offset))")
            }
            offsets[partition] = offset
        }
        self = .offsets(offsets)
    }
}

/// `POST /topics/{topic}/subscribe`.
struct SubscribeBody: Decodable, Sendable {
    var url: String
    var eventTypes: [String]?
    var ordering: Subscription.Ordering?
    var maxInFlight: Int?
    var retrySchedule: RetrySchedule?
    var startFrom: StartPosition?
    var secret: String?
    var headers: [String: String]?
    var description: String?
}

/// `PATCH /subscriptions/{id}`: only the fields present change.
struct SubscriptionPatch: Decodable, Sendable {
    /// `"active"` (resume) or `"paused"`.
    var state: Subscription.State?
    var url: String?
    var eventTypes: [String]?
    var ordering: Subscription.Ordering?
    var maxInFlight: Int?
    var retrySchedule: RetrySchedule?
    var headers: [String: String]?
    var description: String?
    /// Replace the secret with a new random one (the old one keeps signing for 24 hours).
    var rotateSecret: Bool?
    /// Replace the secret with this one (same 24-hour overlap).
    var secret: String?
}

/// `POST /topics/{topic}/unsubscribe`: by id or by callback URL.
struct UnsubscribeBody: Decodable, Sendable {
    var id: String?
    var url: String?
}

/// `POST /subscriptions/{id}/replay`: exactly one of the fields.
struct ReplayBody: Decodable, Sendable {
    var fromOffset: Int64?
    var fromOffsets: [String: Int64]?
    var fromTime: String?
}

/// A subscription as the API shows it.
struct SubscriptionView: Encodable, Sendable {
    struct PartitionPosition: Encodable, Sendable {
        var partition: Int
        /// The lowest offset not yet delivered (or dead-lettered).
        var cursor: Int64
        /// The partition's high watermark.
        var endOffset: Int64
        /// Events not yet finished.
        var lag: Int64
    }

    var id: String
    var topic: String
    var url: String
    var eventTypes: [String]
    var ordering: Subscription.Ordering
    var maxInFlight: Int
    var retrySchedule: RetrySchedule?
    var headers: [String: String]
    var description: String?
    var state: Subscription.State
    var stateReason: String?
    var createdAt: Date
    var updatedAt: Date
    /// Shown when the subscription is created or its secret rotated, and on a single GET.
    var secret: String?
    var partitions: [PartitionPosition]?
    var lag: Int64?
    /// Delivery counts since the server started (detailed views only).
    var counts: Counts?
    /// The last failed attempt's error (detailed views only; null when none).
    var lastError: Nullable<LastError>?

    struct Counts: Encodable, Sendable {
        var delivered: Int
        var failedAttempts: Int
        var deadLettered: Int
        var inFlight: Int
        var retriesPending: Int

        init(_ stats: DeliveryStats) {
            delivered = stats.delivered
            failedAttempts = stats.failedAttempts
            deadLettered = stats.deadLettered
            inFlight = stats.inFlight
            retriesPending = stats.retriesPending
        }
    }

    struct LastError: Encodable, Sendable {
        var message: String
        var at: Date
    }

    /// A value encoded as JSON `null` when absent (where a missing key would be ambiguous).
    struct Nullable<Wrapped: Encodable & Sendable>: Encodable, Sendable {
        var value: Wrapped?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            if let value { try container.encode(value) } else { try container.encodeNil() }
        }
    }

    init(_ subscription: Subscription, secret: Bool, positions: [PartitionPosition]? = nil) {
        id = subscription.id
        topic = subscription.topic
        url = subscription.url
        eventTypes = subscription.eventTypes
        ordering = subscription.ordering
        maxInFlight = subscription.maxInFlight
        retrySchedule = subscription.retrySchedule
        headers = subscription.headers
        description = subscription.description
        state = subscription.state
        stateReason = subscription.stateReason
        createdAt = subscription.createdAt
        updatedAt = subscription.updatedAt
        self.secret = secret ? subscription.secret : nil
        partitions = positions
        lag = positions.map { $0.reduce(0) { $0 + $1.lag } }
    }
}

/// Parses an RFC 3339 time, with or without fractional seconds.
func parseTimestamp(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    if let date = plain.date(from: text) { return date }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
}
