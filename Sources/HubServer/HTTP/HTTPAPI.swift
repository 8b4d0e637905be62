import Dispatcher
import Foundation
import HTTPTypes
import Hummingbird
import LogStore
import Logging
import NIOCore
import Synchronization

/// The HTTP API: its shared state and its routes (one extension per resource).
struct HTTPAPI: Sendable {
    /// The largest request body of any route (an events batch).
    static let maxRequestBytes = 10 << 20
    /// The largest single event.
    static let maxEventBytes = 1 << 20
    /// The largest JSON body of the other routes.
    static let maxJSONBytes = 1 << 20

    struct Settings: Sendable {
        /// Requests per second per API key (token bucket; 0 = unlimited).
        var rateLimit: Double = 0
        /// Bucket size: requests a key may make at once after being idle.
        var rateBurst: Double = 0
        /// Create unknown topics on their first event (as Kafka's `auto.create.topics`).
        var autoCreateTopics = true
    }

    let logs: LogManager
    let subscriptions: SubscriptionRegistry
    let cursors: SubscriptionCursors
    /// Delivers webhooks; nil when the server runs without one.
    let dispatcher: Dispatcher?
    /// Compacts and applies retention in the background; compacts on request.
    let cleaner: LogCleaner
    let offsets: CommittedOffsets
    let groups: GroupCoordinator
    let keys: ApiKeyStore?
    let metrics: HubMetrics
    let idempotency: IdempotencyKeys
    /// The SSRF guard at subscribe time: throws when a callback URL may not be called.
    let checkCallback: @Sendable (String) async throws -> Void
    let partitioner = RoundRobinPartitioner()
    /// What is routed, for 405 answers.
    let routes = RouteTable()
    let settings: Settings
    let logger: Logger

    /// Every route, behind the error and auth middleware.
    func router() -> Router<HubRequestContext> {
        let router = Router(context: HubRequestContext.self)
        router.add(middleware: ErrorMiddleware(metrics: metrics, routes: routes, logger: logger))
        router.add(
            middleware: AuthMiddleware(
                keys: keys, limiter: RateLimiter(rate: settings.rateLimit, burst: settings.rateBurst)))
        addOperationRoutes(to: router)
        addTopicRoutes(to: router)
        addEventRoutes(to: router)
        addSubscriptionRoutes(to: router)
        addDeliveryRoutes(to: router)
        addGroupRoutes(to: router)
        return router
    }

    // MARK: JSON in and out

    /// Decodes a JSON body of at most `limit` bytes.
    /// - Throws: 413 above the limit, 400 for anything that is not the expected JSON.
    static func decode<T: Decodable>(
        _ type: T.Type, from request: Request, limit: Int = HTTPAPI.maxJSONBytes
    ) async throws -> T {
        let body = try await collect(request, limit: limit)
        guard body.readableBytes > 0 else { throw APIError.badRequest("the body is empty; send a JSON object") }
        // Strict JSON first (RFC 8259, UTF-8, nesting capped): Foundation's decoder is lenient.
        let bytes = Array(body.readableBytesView)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError(.badRequest, "invalid_json", "the body is not valid UTF-8")
        }
        do {
            try JSONScanner.validate(bytes)
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not valid JSON: \(error.message)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(.badRequest, "invalid_json", APIError.describe(error))
        } catch let error as APIError {
            throw error
        } catch let error as DispatcherError {
            throw APIError(from: error)
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not valid JSON")
        }
    }

    /// Reads the whole body, refusing (413) more than `limit` bytes before buffering them.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "the body has \(length) bytes; the limit is \(limit)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "payload_too_large", "the body is larger than the limit of \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "payload_too_large", "the body is larger than the limit of \(limit) bytes")
        }
    }

    /// A JSON response.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// 204 No Content.
    static var noContent: Response { Response(status: .noContent) }

    /// The named path parameter (routes only declare ones they read).
    static func parameter(_ name: String, _ context: HubRequestContext) throws -> String {
        guard let value = context.parameters.get(name) else { throw APIError.badRequest("missing \(name)") }
        return value
    }

    /// The log of one partition, or 404.
    func log(_ topic: String, _ partition: Int) throws -> Log {
        do {
            return try logs.log(topic: topic, partition: partition)
        } catch {
            throw APIError.notFound("topic '\(topic)' has no partition \(partition)")
        }
    }

    /// Refuses internal topics to callers without the admin role (they are hidden from others).
    func requireVisible(_ topic: String, _ context: HubRequestContext) throws {
        if TopicMetadata.isInternal(name: topic) && !context.principal.may(.admin) {
            throw APIError.notFound("topic '\(topic)' does not exist")
        }
    }
}

/// Round-robin partitions for keyless records, per topic (Kafka's Java default before the
/// sticky partitioner; the design asks for round-robin).
final class RoundRobinPartitioner: Sendable {
    private let next = Mutex<[String: Int]>([:])

    func partition(topic: String, partitions: Int) -> Int {
        next.withLock { next in
            let value = next[topic, default: Int.random(in: 0..<partitions)] % partitions
            next[topic] = value + 1
            return value
        }
    }
}
