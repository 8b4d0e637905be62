import Foundation
import LogStore
import Logging
import Synchronization

/// One delivery attempt, as recorded in `__attempts` (key = subscription id, value = this JSON).
public struct DeliveryAttempt: Sendable, Codable, Hashable {
    public var subscriptionId: String
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public var webhookId: String
    /// 1 for the first attempt.
    public var attempt: Int
    /// `delivered`, `retrying`, `deadLettered`, `disabled` (410) or `abandoned` (shutdown).
    public var outcome: String
    public var status: Int?
    public var error: String?
    public var durationMs: Double
    /// Milliseconds since the epoch.
    public var at: Int64
}

/// Writes what the Dispatcher does to the internal topics: every attempt to `__attempts`
/// (batched), exhausted deliveries to `__deadletters` (a copy of the event with its coordinates
/// and last error), and subscription state changes to the ordinary topic `hooklog.operational`
/// (created on the first change).
final class DeliveryRecorder: Sendable {
    static let attemptsTopic = "__attempts"
    static let deadLettersTopic = "__deadletters"
    static let operationalTopic = "hooklog.operational"

    let attempts: Log
    let deadLetters: Log
    private let logs: LogManager
    private let buffer = Mutex<[DeliveryAttempt]>([])
    private let logger: Logger

    init(logs: LogManager, logger: Logger) throws {
        self.logs = logs
        self.logger = logger
        for (topic, config) in [
            (Self.attemptsTopic, ["retention.ms": String(3 * 86_400_000)]),
            (Self.deadLettersTopic, ["retention.ms": String(30 * 86_400_000)]),
        ] where logs.metadata(of: topic) == nil {
            do {
                try logs.createTopic(topic, partitions: 1, config: config)
            } catch let error as LogStoreError where error.code == .topicAlreadyExists {}
        }
        attempts = try logs.log(topic: Self.attemptsTopic, partition: 0)
        deadLetters = try logs.log(topic: Self.deadLettersTopic, partition: 0)
    }

    /// Queues an attempt record (written by ``flush()``).
    func record(_ attempt: DeliveryAttempt) {
        buffer.withLock { $0.append(attempt) }
    }

    /// Appends the queued attempt records as one batch.
    func flush() async {
        let queued = buffer.withLock { buffer -> [DeliveryAttempt] in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        guard !queued.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var builder = RecordBatchBuilder()
        for attempt in queued {
            guard let value = try? encoder.encode(attempt) else { continue }
            builder.append(key: Array(attempt.subscriptionId.utf8), value: Array(value), headers: [], timestamp: attempt.at)
        }
        do {
            _ = try await attempts.append(try builder.build())
        } catch {
            logger.warning("cannot record delivery attempts", metadata: ["error": "\(error)", "count": "\(queued.count)"])
        }
    }

    /// Stores a copy of an exhausted delivery's event in `__deadletters`; returns once durable.
    func deadLetter(_ delivery: PendingDelivery, subscription: Subscription, error: String) async throws {
        // A redriven dead letter keeps its original coordinates.
        let origin = WebhookRequest.origin(of: delivery)
        var headers = delivery.record.headers.filter { !$0.key.hasPrefix("hooklog_") }
        let originalTimestamp = delivery.partition == DeliveryWindow.deadLetterPartition
            ? WebhookRequest.header("hooklog_timestamp", of: delivery.record) ?? String(delivery.record.timestamp)
            : String(delivery.record.timestamp)
        let now = wallClockMilliseconds()
        for (key, value) in [
            ("hooklog_subscription", subscription.id), ("hooklog_topic", subscription.topic),
            ("hooklog_partition", String(origin.partition)), ("hooklog_offset", String(origin.offset)),
            ("hooklog_attempts", String(delivery.attempts)), ("hooklog_error", error),
            ("hooklog_timestamp", originalTimestamp),
        ] {
            headers.append(RecordHeader(key: key, value: Array(value.utf8)))
        }
        var builder = RecordBatchBuilder()
        builder.append(key: delivery.record.key, value: delivery.record.value ?? [], headers: headers, timestamp: now)
        _ = try await deadLetters.append(try builder.build())
    }

    /// Appends a subscription state change to `hooklog.operational` as a CloudEvent
    /// (`ce_type` = `hooklog.subscription.<state>`).
    func stateChanged(_ subscription: Subscription, to state: String, reason: String?) async {
        struct Change: Encodable {
            var subscriptionId: String
            var topic: String
            var url: String
            var state: String
            var reason: String?
            var at: String
        }
        let now = Date()
        let change = Change(
            subscriptionId: subscription.id, topic: subscription.topic, url: subscription.url, state: state,
            reason: reason, at: ISO8601DateFormatter().string(from: now))
        let headers = [
            ("ce_specversion", "1.0"), ("ce_id", UUID().uuidString.lowercased()), ("ce_source", "hooklog"),
            ("ce_type", "hooklog.subscription.\(state)"), ("ce_subject", subscription.id),
            ("content-type", "application/json"),
        ].map { RecordHeader(key: $0.0, value: Array($0.1.utf8)) }
        do {
            // An ordinary topic, created when there is first something to say.
            if logs.metadata(of: Self.operationalTopic) == nil {
                do {
                    try logs.createTopic(Self.operationalTopic, partitions: 1)
                } catch let error as LogStoreError where error.code == .topicAlreadyExists {}
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var builder = RecordBatchBuilder()
            builder.append(
                key: Array(subscription.id.utf8), value: Array(try encoder.encode(change)), headers: headers,
                timestamp: wallClockMilliseconds())
            _ = try await logs.log(topic: Self.operationalTopic, partition: 0).append(try builder.build())
        } catch {
            logger.warning("cannot record a subscription state change", metadata: ["error": "\(error)"])
        }
    }
}
