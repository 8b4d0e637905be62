import Dispatcher
import Hummingbird
import LogStore
import NIOCore

/// `/healthz` and `/metrics`.
extension HTTPAPI {
    func addOperationRoutes(to router: Router<HubRequestContext>) {
        router.route(.get, "/healthz", in: routes) { _, _ in
            let offline = logs.allLogs.filter { $0.offlineError != nil }.map { "\($0.topic)-\($0.partition)" }
            struct Health: Encodable {
                var status: String
                var offlinePartitions: [String]
            }
            return try Self.json(
                Health(status: offline.isEmpty ? "ok" : "degraded", offlinePartitions: offline),
                status: offline.isEmpty ? .ok : .serviceUnavailable)
        }
        router.route(.post, "/admin/topics/:topic/compact", in: routes) { request, context in
            try context.require(.admin)
            let topic = try Self.parameter("topic", context)
            guard logs.metadata(of: topic) != nil else { throw APIError.notFound("topic '\(topic)' does not exist") }
            let partition = try request.uri.queryParameters.get("partition").map { text -> Int in
                guard let value = Int(text), value >= 0 else { throw APIError.badRequest("partition must be a number") }
                return value
            }
            let dryRun = request.uri.queryParameters.get("dryRun").map { $0 == "true" || $0 == "1" } ?? false
            let reports = try await cleaner.compact(topic: topic, partition: partition, dryRun: dryRun)
            return try Self.json(["partitions": reports.map(CompactionView.init)])
        }
        router.route(.get, "/metrics", in: routes) { _, context in
            try context.require(.admin)
            for subscription in subscriptions.all {
                let stats = await dispatcher?.stats(subscription: subscription.id) ?? DeliveryStats()
                metrics.recordDeliveries(
                    subscription, stats: stats, lag: positions(of: subscription).reduce(0) { $0 + $1.lag })
            }
            metrics.recordCleaner(cleaner.metrics)
            let text = metrics.render(logs: logs, subscriptions: subscriptions)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }
}

/// One partition's compaction summary, as `POST /admin/topics/{topic}/compact` returns it.
struct CompactionView: Encodable {
    var topic: String
    var partition: Int
    var dryRun: Bool
    var complete: Bool
    var passes: Int
    var segmentsBefore: Int
    var segmentsAfter: Int
    var bytesBefore: Int64
    var bytesAfter: Int64
    var recordsKept: Int64
    var recordsRemoved: Int64
    var tombstonesDropped: Int64
    var bytesScanned: Int64
    var bytesWritten: Int64
    var durationMs: Double

    init(_ report: CompactionReport) {
        topic = report.topic
        partition = report.partition
        dryRun = report.dryRun
        complete = report.complete
        passes = report.passes
        segmentsBefore = report.segmentsBefore
        segmentsAfter = report.segmentsAfter
        bytesBefore = report.bytesBefore
        bytesAfter = report.bytesAfter
        recordsKept = report.recordsKept
        recordsRemoved = report.recordsRemoved
        tombstonesDropped = report.tombstonesDropped
        bytesScanned = report.bytesScanned
        bytesWritten = report.bytesWritten
        durationMs = Double(report.duration.components.seconds) * 1000
            + Double(report.duration.components.attoseconds) / 1e15
    }
}
