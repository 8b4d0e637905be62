/// One decoded record with its absolute offset and timestamp.
public struct Record: Sendable, Hashable {
    public var offset: Int64
    public var timestamp: Int64
    /// nil is a null key.
    public var key: [UInt8]?
    /// nil is a null value: a tombstone on compacted topics.
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(
        offset: Int64 = 0, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// A record header: a UTF-8 key and a nullable byte value.
public struct RecordHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// The compression codec of a batch (attributes bits 0–2).
public enum Compression: Int, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }
}
