import Foundation
import HTTPTypes
import LogStore
import Synchronization

/// `Idempotency-Key` support for `POST /topics/{topic}/events`: the answer to the first request
/// with a key is stored (per topic, for 24 hours) in the internal topic `__idempotency`, and a
/// retry with the same key gets that answer again instead of appending twice. Survives restarts.
///
/// A crash after the events were appended but before the key's record was can still let a retry
/// append again: the window is one group commit.
final class IdempotencyKeys: Sendable {
    static let topic = "__idempotency"
    static let window: Int64 = 24 * 3600 * 1000
    static let maxKeyLength = 255

    /// A stored answer.
    struct Stored: Sendable, Codable {
        /// SHA-256 of what was asked, so a different request reusing the key is refused.
        var fingerprint: String
        var status: Int
        var body: String
        /// Milliseconds since the epoch.
        var createdAt: Int64
    }

    enum Lookup: Sendable {
        /// First use: go ahead, then call ``finish(topic:key:_:)`` or ``abandon(topic:key:)``.
        case proceed
        case replay(Stored)
    }

    private let stored: KeyedStateTopic<String, Stored>
    /// Keys whose first request is still running.
    private let inFlight = Mutex<Set<String>>([])
    private let clock: @Sendable () -> Int64

    init(logs: LogManager, clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }) throws {
        self.clock = clock
        let horizon = clock() - Self.window
        stored = try KeyedStateTopic(
            logs: logs, topic: Self.topic,
            config: ["cleanup.policy": "compact,delete", "retention.ms": String(Self.window * 2)],
            recordKey: { $0 }, parseKey: { $0 }, keep: { $0.createdAt > horizon })
    }

    /// Looks up `key`; a new key is marked in flight.
    /// - Throws: 409 when the key is in use by a request still running, or was used for a
    ///   different request.
    func begin(topic: String, key: String, fingerprint: String) throws(APIError) -> Lookup {
        let name = topic + "/" + key
        if let answer = try answer(name, key: key, fingerprint: fingerprint) { return .replay(answer) }
        guard inFlight.withLock({ $0.insert(name).inserted }) else {
            throw APIError(
                .conflict, "idempotency_key_in_use", "a request with Idempotency-Key '\(key)' is still running")
        }
        // A request with this key may have finished between the two checks: it stored its answer
        // before releasing the key, so the answer is there now.
        do {
            if let answer = try answer(name, key: key, fingerprint: fingerprint) {
                _ = inFlight.withLock { $0.remove(name) }
                return .replay(answer)
            }
        } catch {
            _ = inFlight.withLock { $0.remove(name) }
            throw error
        }
        return .proceed
    }

    /// The stored answer for `name` within the window, if any.
    /// - Throws: 409 when it answered a different request.
    private func answer(_ name: String, key: String, fingerprint: String) throws(APIError) -> Stored? {
        guard let answer = stored[name], answer.createdAt > clock() - Self.window else { return nil }
        guard answer.fingerprint == fingerprint else {
            throw APIError(
                .conflict, "idempotency_key_reused",
                "Idempotency-Key '\(key)' was used for a different request in the last 24 hours")
        }
        return answer
    }

    /// Stores the answer durably, then releases the key.
    func finish(topic: String, key: String, fingerprint: String, status: Int, body: String) async throws {
        defer { abandon(topic: topic, key: key) }
        let answer = Stored(fingerprint: fingerprint, status: status, body: body, createdAt: clock())
        try await stored.store([(topic + "/" + key, answer)], timestamp: answer.createdAt)
    }

    /// Releases an in-flight key without storing an answer (the request failed).
    func abandon(topic: String, key: String) {
        _ = inFlight.withLock { $0.remove(topic + "/" + key) }
    }
}
