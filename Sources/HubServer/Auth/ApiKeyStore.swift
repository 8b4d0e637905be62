import Crypto
import Foundation
import LogStore
import Synchronization

/// What an API key may do.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
    /// Produce to ordinary topics.
    case produce
    /// Fetch, list offsets, consumer groups and committed offsets.
    case consume
    /// Manage webhook subscriptions (HTTP API).
    case subscribe
    /// Everything, including topic management and reading internal topics.
    case admin
}

/// Who is making a request.
public struct Principal: Sendable, Hashable {
    public var keyId: String?
    public var roles: Set<Role>

    /// The principal of every connection when authentication is off.
    public static let anonymousAdmin = Principal(keyId: nil, roles: Set(Role.allCases))

    public func may(_ role: Role) -> Bool { roles.contains(.admin) || roles.contains(role) }
}

/// API keys, stored hashed (SHA-256 of a random salt and the secret) in a JSON file. A secret is
/// shown once, when the key is created.
public final class ApiKeyStore: Sendable {
    /// One stored key.
    public struct Entry: Sendable, Codable, Hashable {
        public var id: String
        public var roles: [Role]
        public var salt: String
        public var secretHash: String
        public var created: Date
        /// HTTP requests per second this key may make (nil: the server's default).
        public var rateLimit: Double?
    }

    public let path: String
    private let entries: Mutex<[String: Entry]>

    /// Loads the keys in `path` (an empty store when the file does not exist).
    public init(path: String) throws {
        self.path = path
        var loaded: [String: Entry] = [:]
        if FileManager.default.fileExists(atPath: path) {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            for entry in try JSONDecoder.keys.decode([Entry].self, from: data) { loaded[entry.id] = entry }
        }
        entries = Mutex(loaded)
    }

    public var isEmpty: Bool { entries.withLock { $0.isEmpty } }
    public var all: [Entry] { entries.withLock { $0.values.sorted { $0.id < $1.id } } }

    /// The principal for `id` and `secret`, or nil when they do not match a key.
    public func authenticate(id: String, secret: String) -> Principal? {
        guard let entry = entries.withLock({ $0[id] }) else {
            // Spend the same work as a real check, so timing does not tell which ids exist.
            _ = Self.hash(salt: "unknown", secret: secret)
            return nil
        }
        let computed = Array(Self.hash(salt: entry.salt, secret: secret).utf8)
        let stored = Array(entry.secretHash.utf8)
        guard computed.count == stored.count else { return nil }
        var difference: UInt8 = 0
        for (a, b) in zip(computed, stored) { difference |= a ^ b }
        return difference == 0 ? Principal(keyId: id, roles: Set(entry.roles)) : nil
    }

    /// The principal whose secret is `secret` (for `Authorization: Bearer <secret>` without the
    /// key id), or nil. Checks every key, so it costs one hash per key.
    public func authenticate(secret: String) -> Principal? {
        for entry in all {
            if let principal = authenticate(id: entry.id, secret: secret) { return principal }
        }
        return nil
    }

    /// The key's own rate limit, if it has one.
    public func rateLimit(of id: String) -> Double? {
        entries.withLock { $0[id]?.rateLimit }
    }

    /// Creates a key and saves the store; returns the secret (shown only now).
    public func create(id: String, roles: [Role], rateLimit: Double? = nil) throws -> String {
        guard !id.isEmpty, !id.contains(":"), id.utf8.count <= 128 else {
            throw ApiKeyError("key ids are 1 to 128 characters, without ':'")
        }
        var random = SystemRandomNumberGenerator()
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let saltBytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
        let secret = "hlk_" + Data(secretBytes).base64URLEncoded
        let salt = Data(saltBytes).base64URLEncoded
        let entry = Entry(
            id: id, roles: roles, salt: salt, secretHash: Self.hash(salt: salt, secret: secret), created: Date(),
            rateLimit: rateLimit)
        try entries.withLock { entries in
            guard entries[id] == nil else { throw ApiKeyError("key '\(id)' already exists") }
            entries[id] = entry
            try save(entries)
        }
        return secret
    }

    /// Deletes a key; false when there was none.
    @discardableResult
    public func delete(id: String) throws -> Bool {
        try entries.withLock { entries in
            guard entries.removeValue(forKey: id) != nil else { return false }
            try save(entries)
            return true
        }
    }

    private func save(_ entries: [String: Entry]) throws {
        let data = try JSONEncoder.keys.encode(entries.values.sorted { $0.id < $1.id })
        // The same crash-safe write as the log's own metadata: temp file, fsync, rename, dir fsync.
        try PosixFileSystem().writeAtomically(Array(data), to: path)
        chmod(path, 0o600)
    }

    static func hash(salt: String, secret: String) -> String {
        SHA256.hash(data: Array((salt + ":" + secret).utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A bad API-key operation.
public struct ApiKeyError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Data {
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

extension JSONEncoder {
    static var keys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    static var keys: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
