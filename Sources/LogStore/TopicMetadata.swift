import Foundation

/// What the data directory records about a topic: its id, partition count and config overrides.
public struct TopicMetadata: Sendable, Hashable, Codable {
    public var name: String
    /// Stable id (Metadata and Fetch versions with topic ids carry it).
    public var id: UUID
    public var partitions: Int
    /// Settings given at creation, by Kafka-style name; the rest come from the defaults.
    public var configOverrides: [String: String]

    public init(name: String, id: UUID = UUID(), partitions: Int, configOverrides: [String: String] = [:]) {
        self.name = name
        self.id = id
        self.partitions = partitions
        self.configOverrides = configOverrides
    }

    /// Whether this topic is internal (its name starts with `__`).
    public var isInternal: Bool { Self.isInternal(name: name) }

    /// Whether a topic of this name is internal (starts with `__`). For hot paths: making a
    /// `TopicMetadata` to ask would draw a random id.
    public static func isInternal(name: String) -> Bool { name.hasPrefix("__") }

    /// Checks Kafka's topic-name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
    public static func validate(name: String) throws(LogStoreError) {
        guard !name.isEmpty, name.utf8.count <= 249 else {
            throw LogStoreError(.invalidTopic, "topic names have 1 to 249 characters")
        }
        guard name != "." && name != ".." else {
            throw LogStoreError(.invalidTopic, "'\(name)' is not a valid topic name")
        }
        for byte in name.utf8 {
            let ok =
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
            guard ok else {
                throw LogStoreError(
                    .invalidTopic, "topic '\(name)' has characters outside [a-zA-Z0-9._-]")
            }
        }
    }
}
