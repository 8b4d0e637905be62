/// An IPv4 or IPv6 address, as the callback guard and its allow list see it.
///
/// Parsing accepts only the canonical textual forms (dotted decimal for IPv4, RFC 4291 text for
/// IPv6, with an optional dotted-decimal tail); `description` prints RFC 5952 form for IPv6.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address; the first octet is the most significant byte.
    case v4(UInt32)
    /// An IPv6 address; the first byte is the most significant byte.
    case v6(UInt128)

    /// Parses `a.b.c.d` (decimal, no leading zeros) or an IPv6 address (no brackets, no zone id).
    /// - Returns: `nil` when `text` is neither.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        if utf8.contains(UInt8(ascii: ":")) {
            guard let value = Self.parseIPv6(utf8[...]) else { return nil }
            self = .v6(value)
        } else {
            guard let value = Self.parseDottedDecimal(utf8[...]) else { return nil }
            self = .v4(value)
        }
    }

    /// An IPv4 address from its four octets.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self = .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
    }

    /// An address from its bytes in network order: 4 bytes for IPv4, 16 for IPv6.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self = .v6(bytes.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    /// The number of bits in an address of this family: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for, else `self`.
    ///
    /// The kernel connects to the IPv4 address for a mapped one, so the guard and the allow list
    /// judge mapped addresses as that IPv4 address.
    public var unmapped: IPAddress {
        if case .v6(let value) = self, value >> 32 == 0xFFFF {
            return .v4(UInt32(truncatingIfNeeded: value))
        }
        return self
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return Self.dottedDecimal(value)
        case .v6(let value):
            if value >> 32 == 0xFFFF {
                return "::ffff:" + Self.dottedDecimal(UInt32(truncatingIfNeeded: value))
            }
            return Self.rfc5952(value)
        }
    }

    // MARK: - Parsing

    /// Strict dotted decimal: exactly four parts of 1 to 3 digits, no leading zeros, each ≤ 255.
    static func parseDottedDecimal(_ text: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        for part in text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard parts < 4, (1...3).contains(part.count), part.allSatisfy(Self.isDigit) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
            parts += 1
        }
        return parts == 4 ? value : nil
    }

    /// RFC 4291 section 2.2 text: eight groups of 1 to 4 hex digits, one `::` for a run of zero
    /// groups, and optionally dotted decimal for the last 32 bits.
    static func parseIPv6(_ text: ArraySlice<UInt8>) -> UInt128? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var rest = text
        if rest.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            sawDoubleColon = true
            rest = rest.dropFirst(2)
            if rest.isEmpty { return 0 }
        } else if rest.first == UInt8(ascii: ":") {
            return nil
        }
        while !rest.isEmpty {
            let end = rest.firstIndex(of: UInt8(ascii: ":")) ?? rest.endIndex
            let group = rest[rest.startIndex..<end]
            var groups: [UInt16]
            if group.contains(UInt8(ascii: ".")) {
                // Dotted decimal must be the last thing.
                guard end == rest.endIndex, let v4 = parseDottedDecimal(group) else { return nil }
                groups = [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
            } else {
                guard (1...4).contains(group.count), group.allSatisfy(Self.isHexDigit) else { return nil }
                groups = [group.reduce(0) { $0 << 4 | UInt16(Self.hexValue($1)) }]
            }
            if sawDoubleColon { tail += groups } else { head += groups }
            rest = rest[end...]
            if rest.isEmpty { break }
            rest = rest.dropFirst()  // the ':'
            if rest.first == UInt8(ascii: ":") {
                guard !sawDoubleColon else { return nil }
                sawDoubleColon = true
                rest = rest.dropFirst()
            } else if rest.isEmpty {
                return nil  // a single trailing ':'
            }
        }
        let count = head.count + tail.count
        if sawDoubleColon {
            guard count <= 7 else { return nil }
        } else {
            guard count == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - count) + tail
        return groups.reduce(0) { $0 << 16 | UInt128($1) }
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }

    static func hexValue(_ byte: UInt8) -> UInt8 {
        isDigit(byte) ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10
    }

    // MARK: - Formatting

    static func dottedDecimal(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    /// RFC 5952: lowercase hex, no leading zeros, the longest run of two or more zero groups
    /// (the first one on a tie) as `::`.
    static func rfc5952(_ value: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < 8 && groups[index] == 0 { index += 1 }
            if index - start > bestLength && index - start >= 2 {
                bestStart = start
                bestLength = index - start
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
