import Dispatcher
import LogStore
import Prometheus

/// The hub's Prometheus metrics (swift-prometheus): HTTP requests, appends, bytes, fsyncs and
/// their latency, and gauges read at scrape time (subscriptions by state, partition sizes).
public final class HubMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let appends: Counter
    private let appendedBytes: Counter
    private let fsyncLatency: DurationHistogram

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        appends = registry.makeCounter(descriptor: Self.name("appends", "total", "Appends written to partition logs."))
        appendedBytes = registry.makeCounter(
            descriptor: Self.name("appended_bytes", "total", "Record-batch bytes written to partition logs."))
        fsyncLatency = registry.makeDurationHistogram(
            descriptor: Self.name(
                "fsync_duration", "seconds", "Group-commit fdatasync latency (the count is the number of fsyncs)."),
            labels: [], buckets: Self.latencyBuckets)
    }

    /// `hooklog_<metric>_<unit>` with help text.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "hooklog", metricName: metric, unitName: unit, helpText: help)
    }

    /// Hooks the log writers' callbacks into these metrics.
    public func instrument(_ options: inout LogOptions) {
        let appends = self.appends
        let appendedBytes = self.appendedBytes
        let fsyncLatency = self.fsyncLatency
        options.onAppend = { count, bytes in
            appends.increment(by: Int64(count))
            appendedBytes.increment(by: Int64(bytes))
        }
        options.onFsync = { duration in fsyncLatency.record(duration) }
    }

    func recordHTTPRequest(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.name("http_requests", "total", "HTTP API requests by route and status."),
            labels: [("method", method), ("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("http_request_duration", "seconds", "HTTP API request latency."),
            labels: [("method", method), ("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    /// Hooks the Dispatcher's attempt callback into these metrics.
    public func instrument(_ configuration: inout Dispatcher.Configuration) {
        let registry = self.registry
        configuration.onAttempt = { outcome, duration in
            registry.makeCounter(
                descriptor: Self.name("deliveries", "total", "Webhook delivery attempts by outcome."),
                labels: [("outcome", outcome)]
            ).increment()
            registry.makeDurationHistogram(
                descriptor: Self.name("delivery_duration", "seconds", "Webhook request latency (one attempt)."),
                labels: [], buckets: Self.deliveryBuckets
            ).record(duration)
        }
    }

    static let deliveryBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Per-subscription delivery gauges: in flight, retries pending, lag, dead letters.
    func recordDeliveries(_ subscription: Subscription, stats: DeliveryStats, lag: Int64) {
        let labels = [("subscription", subscription.id), ("topic", subscription.topic)]
        registry.makeGauge(descriptor: Self.name(
                "deliveries_in_flight", "", "Attempts started and not finished (open, or waiting for an origin slot)."),
            labels: labels)
            .set(Double(stats.inFlight))
        registry.makeGauge(
            descriptor: Self.name("delivery_retries_pending", "", "Deliveries waiting for their next attempt."),
            labels: labels
        ).set(Double(stats.retriesPending))
        registry.makeGauge(
            descriptor: Self.name("subscription_lag", "events", "Events not yet finished, per subscription."),
            labels: labels
        ).set(Double(lag))
        registry.makeGauge(
            descriptor: Self.name("dead_letters", "", "Deliveries dead-lettered since the server started."),
            labels: labels
        ).set(Double(stats.deadLettered))
    }

    /// The background cleaner's counters (totals since start, exported as gauges of totals).
    func recordCleaner(_ cleaner: LogCleaner.Metrics) {
        let values: [(String, String, Double)] = [
            ("cleaner_compaction_runs", "Compaction passes run.", Double(cleaner.compactionRuns)),
            ("cleaner_compaction_failures", "Compaction passes that failed.", Double(cleaner.compactionFailures)),
            ("cleaner_scanned_bytes", "Bytes the cleaner read.", Double(cleaner.bytesScanned)),
            ("cleaner_written_bytes", "Bytes the cleaner wrote.", Double(cleaner.bytesWritten)),
            ("cleaner_reclaimed_bytes", "Bytes compaction freed.", Double(cleaner.bytesReclaimed)),
            ("cleaner_tombstones_dropped", "Tombstones dropped past delete.retention.ms.", Double(cleaner.tombstonesDropped)),
            ("retention_runs", "Retention passes run.", Double(cleaner.retentionRuns)),
            ("retention_segments_deleted", "Segments deleted by retention.", Double(cleaner.segmentsDeleted)),
        ]
        for (name, help, value) in values {
            registry.makeGauge(descriptor: Self.name(name, "", help), labels: []).set(value)
        }
    }

    /// Refreshes the gauges that are read rather than counted, then renders the text format.
    func render(logs: LogManager, subscriptions: SubscriptionRegistry) -> [UInt8] {
        var byState: [Subscription.State: Int] = [:]
        for subscription in subscriptions.all { byState[subscription.state, default: 0] += 1 }
        for state in Subscription.State.allCases {
            registry.makeGauge(
                descriptor: Self.name("subscriptions", "", "Subscriptions by state."), labels: [("state", state.rawValue)]).set(Double(byState[state] ?? 0))
        }
        for log in logs.allLogs {
            let labels = [("topic", log.topic), ("partition", String(log.partition))]
            let info = log.info
            registry.makeGauge(descriptor: Self.name("partition_size", "bytes", "Bytes on disk per partition."), labels: labels)
                .set(Double(info.sizeInBytes))
            registry.makeGauge(descriptor: Self.name("partition_high_watermark", "", "High watermark per partition."), labels: labels)
                .set(Double(info.highWatermark))
            registry.makeGauge(descriptor: Self.name("partition_log_start_offset", "", "Log start offset per partition."), labels: labels)
                .set(Double(info.logStartOffset))
        }
        return registry.emitToBuffer()
    }
}
