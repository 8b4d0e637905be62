import HubClient
import LogStore
import NIOCore

/// The dispatch benchmarks' events: 256-byte JSON objects
/// `{"sent_ns":"0000001234567890123","pad":"xxx…"}` whose first field is the producer's
/// CLOCK_MONOTONIC time in nanoseconds as 19 digits at a fixed position (bytes 12..<31), so the
/// sink reads it without parsing JSON. Backlog events carry 0.
public enum JSONEvents {
    public static let valueBytes = 256
    static let prefix = Array(#"{"sent_ns":""#.utf8)  // 12 bytes
    static let middle = Array(#"","pad":""#.utf8)  // 9 bytes
    static let suffix = Array(#""}"#.utf8)  // 2 bytes
    public static let timestampOffset = 12
    public static let timestampDigits = 19

    /// One event's value with `sentNanoseconds` embedded.
    public static func value(sentNanoseconds: Int64) -> [UInt8] {
        var value = prefix
        value.reserveCapacity(valueBytes)
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: timestampDigits)
        var n = max(sentNanoseconds, 0)
        var i = timestampDigits - 1
        while n > 0 && i >= 0 {
            digits[i] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
            i -= 1
        }
        value += digits
        value += middle
        value += [UInt8](repeating: UInt8(ascii: "x"), count: valueBytes - value.count - suffix.count)
        value += suffix
        precondition(value.count == valueBytes)
        return value
    }

    /// A record batch of `count` events, all stamped `sentNanoseconds`.
    public static func batch(count: Int, sentNanoseconds: Int64) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: .none)
        let value = value(sentNanoseconds: sentNanoseconds)
        let now = HubClient.currentTimeMilliseconds()
        for _ in 0..<count { builder.append(key: nil, value: value, timestamp: now) }
        return try builder.build()
    }
}
