import LogStore

/// A record to produce: key, value, headers and an optional timestamp (now when nil).
public struct ProducerRecord: Sendable, Hashable {
    /// nil is a null key (keyless records).
    public var key: [UInt8]?
    /// nil is a null value: a tombstone on compacted topics.
    public var value: [UInt8]?
    public var headers: [RecordHeader]
    /// Milliseconds since the epoch; nil takes the time the batch is built.
    public var timestamp: Int64?

    public init(key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// A record with UTF-8 key and value.
    public init(key: String? = nil, value: String, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.init(key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers, timestamp: timestamp)
    }
}
