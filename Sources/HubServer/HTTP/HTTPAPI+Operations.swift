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
            return try Self.json(["partitions": reports])
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
