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

    private struct State {
        var stored: [String: Stored] = [:]
        var inFlight: Set<String> = []
    }

    private let log: Log
    private let state: Mutex<State>
    private let clock: @Sendable () -> Int64

    init(logs: LogManager, clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }) throws {
        self.clock = clock
        if logs.metadata(of: Self.topic) == nil {
            try logs.createTopic(
                Self.topic, partitions: 1,
                config: ["cleanup.policy": "compact,delete", "retention.ms": String(Self.window * 2)])
        }
        log = try logs.log(topic: Self.topic, partition: 0)
        var loaded: [String: Stored] = [:]
        let horizon = clock() - Self.window
        let decoder = JSONDecoder()
        try log.forEachRecord { record in
            guard let key = record.key else { return }
            let name = String(decoding: key, as: UTF8.self)
            if let value = record.value, let stored = try? decoder.decode(Stored.self, from: Data(value)),
                stored.createdAt > horizon
            {
                loaded[name] = stored
            } else {
                loaded[name] = nil
            }
        }
        state = Mutex(State(stored: loaded))
    }

    /// Looks up `key`; a new key is marked in flight.
    /// - Throws: 409 when the key is in use by a request still running, or was used for a
    ///   different request.
    func begin(topic: String, key: String, fingerprint: String) throws(APIError) -> Lookup {
        let name = topic + "/" + key
        let now = clock()
        return try state.withLock { (state) throws(APIError) -> Lookup in
            if let stored = state.stored[name], stored.createdAt > now - Self.window {
                guard stored.fingerprint == fingerprint else {
                    throw APIError(
                        .conflict, "idempotency_key_reused",
                        "Idempotency-Key '\(key)' was used for a different request in the last 24 hours")
                }
                return .replay(stored)
            }
            guard state.inFlight.insert(name).inserted else {
                throw APIError(
                    .conflict, "idempotency_key_in_use", "a request with Idempotency-Key '\(key)' is still running")
            }
            return .proceed
        }
    }

    /// Stores the answer durably, then releases the key.
    func finish(topic: String, key: String, fingerprint: String, status: Int, body: String) async throws {
        let name = topic + "/" + key
        defer { abandon(topic: topic, key: key) }
        let stored = Stored(fingerprint: fingerprint, status: status, body: body, createdAt: clock())
        var builder = RecordBatchBuilder()
        builder.append(
            key: Array(name.utf8), value: Array(try JSONEncoder().encode(stored)), headers: [], timestamp: stored.createdAt)
        _ = try await log.append(try builder.build())
        state.withLock { $0.stored[name] = stored }
    }

    /// Releases an in-flight key without storing an answer (the request failed).
    func abandon(topic: String, key: String) {
        _ = state.withLock { $0.inFlight.remove(topic + "/" + key) }
    }
}
