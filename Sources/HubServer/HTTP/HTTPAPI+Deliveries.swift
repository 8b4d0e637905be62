import Dispatcher
import Foundation
import Hummingbird
import LogStore

/// `/subscriptions/{id}/attempts`, `/dead-letters`, `/dead-letters/redrive` and `/resume`.
extension HTTPAPI {
    /// How many records of `__attempts` a listing looks back over.
    static let attemptsScanWindow: Int64 = 50_000
    /// How many dead letters a listing scans at most.
    static let deadLettersScanLimit = 100_000

    struct DeadLetterView: Encodable {
        /// The dead letter's offset in `__deadletters`.
        var id: Int64
        var topic: String
        var partition: Int
        var offset: Int64
        var attempts: Int
        var error: String
        var deadLetteredAt: Date
        var key: String?
        /// The event data: UTF-8 text when it is, else base64 in `valueBase64`.
        var value: String?
        var valueBase64: String?
        var headers: [String: String]
    }

    func addDeliveryRoutes(to router: Router<HubRequestContext>) {
        router.route(.get, "/subscriptions/:id/attempts", in: routes) { request, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            guard subscriptions.subscription(id: id) != nil else { throw APIError.notFound("no subscription \(id)") }
            let limit = try Self.limit(request)
            guard let log = try? logs.log(topic: Dispatcher.attemptsTopic, partition: 0) else {
                return try Self.json(["attempts": [DeliveryAttempt]()])
            }
            let from = max(log.logStartOffset, log.highWatermark - Self.attemptsScanWindow)
            var found: [DeliveryAttempt] = []
            let decoder = JSONDecoder()
            try log.forEachRecord(from: from) { record in
                guard let key = record.key, key.elementsEqual(id.utf8), let value = record.value,
                    let attempt = try? decoder.decode(DeliveryAttempt.self, from: Data(value))
                else { return }
                found.append(attempt)
                if found.count > limit * 4 { found.removeFirst(found.count - limit) }
            }
            return try Self.json(["attempts": Array(found.suffix(limit).reversed())])
        }
        router.route(.get, "/subscriptions/:id/dead-letters", in: routes) { request, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            guard subscriptions.subscription(id: id) != nil else { throw APIError.notFound("no subscription \(id)") }
            let limit = try Self.limit(request)
            return try Self.json(["deadLetters": try deadLetters(of: id, limit: limit)])
        }
        router.route(.post, "/subscriptions/:id/dead-letters/redrive", in: routes) { _, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            guard subscriptions.subscription(id: id) != nil else { throw APIError.notFound("no subscription \(id)") }
            guard let dispatcher else {
                throw APIError(.serviceUnavailable, "dispatch_disabled", "this server runs without a Dispatcher (--no-dispatch)")
            }
            let range = try await dispatcher.redrive(subscription: id)
            var count = 0
            if let log = try? logs.log(topic: Dispatcher.deadLettersTopic, partition: 0), !range.isEmpty {
                try log.forEachRecord(from: range.lowerBound) { record in
                    guard record.offset < range.upperBound else { return }
                    if record.headers.contains(where: { $0.key == "hooklog_subscription" && $0.value == Array(id.utf8) }) {
                        count += 1
                    }
                }
            }
            struct Redrive: Encodable {
                var deadLetters: Int
                var fromId: Int64
                var toId: Int64
            }
            return try Self.json(Redrive(deadLetters: count, fromId: range.lowerBound, toId: range.upperBound), status: .accepted)
        }
        router.route(.post, "/subscriptions/:id/resume", in: routes) { _, context in
            try context.require(.subscribe)
            let id = try Self.parameter("id", context)
            let updated = try await subscriptions.update(id: id) { subscription in
                subscription.state = .active
                subscription.stateReason = nil
            }
            return try Self.json(await view(of: updated, secret: false))
        }
    }

    /// The newest dead letters of a subscription (at most `limit`), newest first.
    func deadLetters(of id: String, limit: Int) throws -> [DeadLetterView] {
        guard let log = try? logs.log(topic: Dispatcher.deadLettersTopic, partition: 0) else { return [] }
        let from = max(log.logStartOffset, log.highWatermark - Int64(Self.deadLettersScanLimit))
        var found: [DeadLetterView] = []
        try log.forEachRecord(from: from) { record in
            var coordinates: [String: String] = [:]
            var headers: [String: String] = [:]
            for header in record.headers {
                let text = header.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
                if header.key.hasPrefix("hooklog_") {
                    coordinates[String(header.key.dropFirst("hooklog_".count))] = text
                } else {
                    headers[header.key] = text
                }
            }
            guard coordinates["subscription"] == id else { return }
            let value = record.value ?? []
            let text = String(validating: value, as: UTF8.self)
            found.append(
                DeadLetterView(
                    id: record.offset, topic: coordinates["topic"] ?? "", partition: Int(coordinates["partition"] ?? "") ?? 0,
                    offset: Int64(coordinates["offset"] ?? "") ?? -1, attempts: Int(coordinates["attempts"] ?? "") ?? 0,
                    error: coordinates["error"] ?? "", deadLetteredAt: Date(timeIntervalSince1970: Double(record.timestamp) / 1000),
                    key: record.key.map { String(decoding: $0, as: UTF8.self) }, value: text,
                    valueBase64: text == nil ? Data(value).base64EncodedString() : nil, headers: headers))
            if found.count > limit * 4 { found.removeFirst(found.count - limit) }
        }
        return Array(found.suffix(limit).reversed())
    }

    /// `?limit=` (1 to 1000, default 100).
    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 100 }
        guard let limit = Int(text), (1...1000).contains(limit) else {
            throw APIError.badRequest("limit must be 1 to 1000, not '\(text)'")
        }
        return limit
    }
}
