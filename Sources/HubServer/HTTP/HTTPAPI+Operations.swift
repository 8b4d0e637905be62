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
        router.route(.get, "/metrics", in: routes) { _, context in
            try context.require(.admin)
            for subscription in subscriptions.all {
                let stats = await dispatcher?.stats(subscription: subscription.id) ?? DeliveryStats()
                metrics.recordDeliveries(
                    subscription, stats: stats, lag: positions(of: subscription).reduce(0) { $0 + $1.lag })
            }
            let text = metrics.render(logs: logs, subscriptions: subscriptions)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }
}
