/// Delivery counts and the last error of one subscription (since the server started).
public struct DeliveryStats: Sendable, Codable, Hashable {
    public var delivered = 0
    public var failedAttempts = 0
    public var deadLettered = 0
    public var inFlight = 0
    public var retriesPending = 0
    public var lastError: String?
    /// Milliseconds since the epoch.
    public var lastErrorAt: Int64?
    public var lastDeliveredAt: Int64?

    public init() {}
}
