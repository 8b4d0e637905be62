import HubProtocol

/// The brokers and topics a Metadata request described.
public struct ClusterMetadata: Sendable, Hashable {
    /// A broker of the cluster.
    public struct Broker: Sendable, Hashable {
        public var nodeId: Int32
        public var host: String
        public var port: Int
        public var rack: String?
    }

    /// A partition of a topic.
    public struct Partition: Sendable, Hashable {
        public var index: Int32
        /// The leader's node id; -1 when there is none.
        public var leader: Int32
        /// `.none`, or why the partition is unavailable (e.g. KAFKA_STORAGE_ERROR).
        public var error: ErrorCode
    }

    /// A topic and its partitions.
    public struct Topic: Sendable, Hashable {
        public var name: String
        /// The topic id; `Uuid.zero` when the broker does not send ids (Metadata v9 and older).
        public var id: Uuid
        public var isInternal: Bool
        /// `.none`, or why the topic cannot be described (e.g. UNKNOWN_TOPIC_OR_PARTITION).
        public var error: ErrorCode
        /// In partition order.
        public var partitions: [Partition]
    }

    public var clusterId: String?
    public var controllerId: Int32
    public var brokers: [Broker]
    public var topics: [Topic]

    /// The topic named `name`, if the response has it.
    public func topic(_ name: String) -> Topic? {
        topics.first { $0.name == name }
    }
}
