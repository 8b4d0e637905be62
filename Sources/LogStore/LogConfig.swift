/// When appends are fsynced, and so when they are acknowledged and become visible.
public enum FlushPolicy: Sendable, Hashable, CustomStringConvertible {
    /// fdatasync before acknowledging; the high watermark is the durable end (the default).
    case always
    /// Acknowledge after the write; fdatasync every `milliseconds`.
    case interval(milliseconds: Int64)
    /// Acknowledge after the write; fdatasync only when a segment rolls or the log closes.
    case never

    public var description: String {
        switch self {
        case .always: "always"
        case .interval(let ms): "interval(\(ms)ms)"
        case .never: "never"
        }
    }
}

/// The per-topic configuration, with Kafka's names where Kafka has the setting.
public struct LogConfig: Sendable, Hashable {
    /// `segment.bytes`: roll the active segment past this size.
    public var segmentBytes: Int = 1 << 30
    /// `segment.ms`: roll the active segment when its first append is this old.
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.ms`: delete segments whose newest record is older (-1: keep forever).
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`: delete the oldest segments while the log is larger (-1: no limit).
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`: `delete`, `compact` or both.
    public var cleanupPolicy: Set<CleanupPolicy> = [.delete]
    /// `delete.retention.ms`: how long tombstones stay once in the cleaned range.
    public var deleteRetentionMs: Int64 = 24 * 3_600_000
    /// `max.message.bytes`: the largest batch accepted (Kafka's default, 1 MiB + 12).
    public var maxMessageBytes: Int = 1_048_588
    /// `flush.policy` (`always`, `interval`, `never`) with `flush.ms` for `interval`.
    public var flushPolicy: FlushPolicy = .always
    /// `index.interval.bytes`: bytes of log between index entries.
    public var indexIntervalBytes: Int = 4096
    /// `segment.index.bytes`: the most each index file holds (a full index rolls the segment);
    /// room is reserved in 1 MiB steps up to it.
    public var segmentIndexBytes: Int = 10 << 20
    /// `min.cleanable.dirty.ratio`: the background cleaner compacts a log only when at least this
    /// share of its closed segments' bytes lies past the cleaner checkpoint.
    public var minCleanableDirtyRatio: Double = 0.5

    public enum CleanupPolicy: String, Sendable, Hashable, CaseIterable {
        case delete
        case compact
    }

    public init() {}

    public var isCompacted: Bool { cleanupPolicy.contains(.compact) }

    /// The names this type understands, in the order ``properties`` lists them.
    public static let names = [
        "segment.bytes", "segment.ms", "retention.ms", "retention.bytes", "cleanup.policy",
        "delete.retention.ms", "max.message.bytes", "flush.policy", "flush.ms", "index.interval.bytes",
        "segment.index.bytes", "min.cleanable.dirty.ratio",
    ]

    /// Applies `overrides` (Kafka-style names and string values) on top of this config.
    /// - Throws: `invalidConfig` naming the bad key or value.
    public func applying(_ overrides: [String: String]) throws(LogStoreError) -> LogConfig {
        var config = self
        var flushName: String?
        var flushMs: Int64?
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "segment.bytes":
                config.segmentBytes = Int(try Self.integer(key, value, in: 1024...(Int64(Int32.max))))
            case "segment.ms": config.segmentMs = try Self.integer(key, value, in: 1...Int64.max)
            case "retention.ms": config.retentionMs = try Self.integer(key, value, in: -1...Int64.max)
            case "retention.bytes": config.retentionBytes = try Self.integer(key, value, in: -1...Int64.max)
            case "delete.retention.ms": config.deleteRetentionMs = try Self.integer(key, value, in: 0...Int64.max)
            case "max.message.bytes":
                config.maxMessageBytes = Int(try Self.integer(key, value, in: 64...(Int64(Int32.max))))
            case "index.interval.bytes":
                config.indexIntervalBytes = Int(try Self.integer(key, value, in: 0...(Int64(Int32.max))))
            case "segment.index.bytes":
                config.segmentIndexBytes = Int(try Self.integer(key, value, in: 12...(Int64(Int32.max))))
            case "cleanup.policy":
                var policies = Set<CleanupPolicy>()
                for part in value.split(separator: ",") {
                    let name = part.trimmingCharacters(in: " ")
                    guard let policy = CleanupPolicy(rawValue: name) else {
                        throw LogStoreError(
                            .invalidConfig, "cleanup.policy must be delete, compact or both, not '\(value)'")
                    }
                    policies.insert(policy)
                }
                guard !policies.isEmpty else {
                    throw LogStoreError(.invalidConfig, "cleanup.policy must be delete, compact or both")
                }
                config.cleanupPolicy = policies
            case "min.cleanable.dirty.ratio":
                guard let ratio = Double(value.trimmingCharacters(in: " ")), ratio >= 0, ratio <= 1 else {
                    throw LogStoreError(
                        .invalidConfig, "min.cleanable.dirty.ratio must be a number in 0...1, not '\(value)'")
                }
                config.minCleanableDirtyRatio = ratio
            case "flush.policy": flushName = value
            case "flush.ms": flushMs = try Self.integer(key, value, in: 1...Int64.max)
            default:
                throw LogStoreError(
                    .invalidConfig, "unknown topic config '\(key)'; known: \(Self.names.joined(separator: ", "))")
            }
        }
        switch flushName {
        case nil:
            // flush.ms alone changes only an interval policy's period.
            if let flushMs, case .interval = config.flushPolicy {
                config.flushPolicy = .interval(milliseconds: flushMs)
            }
        case "always": config.flushPolicy = .always
        case "never": config.flushPolicy = .never
        case "interval": config.flushPolicy = .interval(milliseconds: flushMs ?? 1000)
        case let other?:
            throw LogStoreError(.invalidConfig, "flush.policy must be always, interval or never, not '\(other)'")
        }
        return config
    }

    /// Every setting as Kafka-style name and string value.
    public var properties: [(name: String, value: String)] {
        let flushName: String
        var flushMs: Int64 = 1000
        switch flushPolicy {
        case .always: flushName = "always"
        case .never: flushName = "never"
        case .interval(let ms):
            flushName = "interval"
            flushMs = ms
        }
        return [
            ("segment.bytes", String(segmentBytes)), ("segment.ms", String(segmentMs)),
            ("retention.ms", String(retentionMs)), ("retention.bytes", String(retentionBytes)),
            ("cleanup.policy", CleanupPolicy.allCases.filter { cleanupPolicy.contains($0) }.map(\.rawValue).joined(separator: ",")),
            ("delete.retention.ms", String(deleteRetentionMs)), ("max.message.bytes", String(maxMessageBytes)),
            ("flush.policy", flushName), ("flush.ms", String(flushMs)),
            ("index.interval.bytes", String(indexIntervalBytes)), ("segment.index.bytes", String(segmentIndexBytes)),
            ("min.cleanable.dirty.ratio", String(minCleanableDirtyRatio)),
        ]
    }

    private static func integer(_ key: String, _ value: String, in range: ClosedRange<Int64>) throws(LogStoreError) -> Int64 {
        guard let number = Int64(value.trimmingCharacters(in: " ")), range.contains(number) else {
            throw LogStoreError(
                .invalidConfig, "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(value)'")
        }
        return number
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(self.drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String { self[...].trimmingCharacters(in: set) }
}
