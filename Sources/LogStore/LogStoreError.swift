/// The one error type of LogStore: a machine-readable ``Code`` and a message that says what
/// happened and, where the caller can do something about it, what to do.
public struct LogStoreError: Error, Hashable, CustomStringConvertible, Sendable {
    /// A small, extensible set of error kinds; each maps to one Kafka error code at the protocol
    /// layer.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A batch failed framing, CRC, record-count or offset-delta checks.
        public static let corruptMessage = Code("corrupt_message")
        /// A batch is larger than the topic's `max.message.bytes`.
        public static let messageTooLarge = Code("message_too_large")
        /// A batch uses gzip, snappy, zstd or an unknown codec.
        public static let unsupportedCompression = Code("unsupported_compression")
        /// A record breaks a topic rule (for example a null key on a compacted topic).
        public static let invalidRecord = Code("invalid_record")
        /// Transactional or control batches from a client: Hooklog has no transactions.
        public static let transactionsNotSupported = Code("transactions_not_supported")
        /// An idempotent producer's batch skips sequence numbers.
        public static let outOfOrderSequence = Code("out_of_order_sequence")
        /// A batch of several that repeats an idempotent producer's earlier batch.
        public static let duplicateSequence = Code("duplicate_sequence")
        /// An idempotent producer with an epoch older than the partition has seen (fenced).
        public static let invalidProducerEpoch = Code("invalid_producer_epoch")
        /// A topic name that breaks the naming rules.
        public static let invalidTopic = Code("invalid_topic")
        public static let topicAlreadyExists = Code("topic_already_exists")
        public static let unknownTopicOrPartition = Code("unknown_topic_or_partition")
        /// A read below the log start offset or above the high watermark.
        public static let offsetOutOfRange = Code("offset_out_of_range")
        /// Free space is below the watermark; appends are refused until space returns.
        public static let diskFull = Code("disk_full")
        /// The partition is offline after a failed write or fsync; it recovers on the next open.
        public static let offline = Code("offline")
        /// The log or log manager has been closed.
        public static let closed = Code("closed")
        /// Another process holds the data directory.
        public static let dataDirectoryLocked = Code("data_directory_locked")
        public static let invalidConfig = Code("invalid_config")
        /// Another compaction of the same partition is running.
        public static let compactionInProgress = Code("compaction_in_progress")
        /// A file-system call failed.
        public static let io = Code("io")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
