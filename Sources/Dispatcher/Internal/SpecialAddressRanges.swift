/// Why an address is refused: the range it falls in and, for IPv6 forms that carry an IPv4
/// address (NAT64, 6to4), the IPv4 address that was judged.
struct AddressRefusal: Hashable, Sendable {
    /// What the range is, as a noun phrase: "a loopback address".
    let category: String
    let range: CIDRBlock
    /// The IPv4 address embedded in a NAT64 or 6to4 address, when that is what was refused.
    let embedded: IPAddress?
}

/// The address ranges the callback guard refuses, and the IPv6 forms that embed an IPv4 address.
///
/// Beyond the design's list (loopback, private, CGNAT, link-local, multicast, unspecified,
/// broadcast), this also refuses IPv4 ranges that are never a public receiver and are sometimes
/// internal networks (192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking, 240.0.0.0/4
/// reserved), deprecated IPv6 forms (IPv4-compatible ::/96, site-local fec0::/10) and the
/// local-use NAT64 prefix 64:ff9b:1::/48, whose address layout depends on the local network.
/// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4 address they carry,
/// since a gateway forwards them there. Teredo (2001::/32) is not treated specially: its clients'
/// addresses are obfuscated and the protocol is all but gone.
enum SpecialAddressRanges {
    private static func block(_ text: String) -> CIDRBlock {
        // The table below is fixed text; a failure is a programming error caught by the tests.
        do { return try CIDRBlock(text) } catch { preconditionFailure("bad built-in CIDR block \(text): \(error)") }
    }

    /// Checked in order: the first match names the category.
    static let ipv4: [(CIDRBlock, String)] = [
        (block("0.0.0.0/8"), "an unspecified (\"this network\") address"),
        (block("10.0.0.0/8"), "a private address"),
        (block("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
        (block("127.0.0.0/8"), "a loopback address"),
        (block("169.254.0.0/16"), "a link-local address (cloud metadata services live here)"),
        (block("172.16.0.0/12"), "a private address"),
        (block("192.0.0.0/24"), "an IETF protocol-assignment address"),
        (block("192.168.0.0/16"), "a private address"),
        (block("198.18.0.0/15"), "a benchmarking address (often used for internal networks)"),
        (block("224.0.0.0/4"), "a multicast address"),
        (block("255.255.255.255/32"), "the broadcast address"),
        (block("240.0.0.0/4"), "a reserved address"),
    ]

    static let ipv6: [(CIDRBlock, String)] = [
        (block("::/128"), "the unspecified address"),
        (block("::1/128"), "a loopback address"),
        (block("::/96"), "an IPv4-compatible IPv6 address (deprecated)"),
        (block("64:ff9b:1::/48"), "a local-use NAT64 address"),
        (block("fc00::/7"), "a private (unique local) address"),
        (block("fec0::/10"), "a site-local address (deprecated)"),
        (block("fe80::/10"), "a link-local address"),
        (block("ff00::/8"), "a multicast address"),
    ]

    static let nat64 = block("64:ff9b::/96")
    static let sixToFour = block("2002::/16")

    /// The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address carries.
    static func embeddedIPv4(in address: IPAddress) -> IPAddress? {
        guard case .v6(let value) = address else { return nil }
        if nat64.contains(address) { return .v4(UInt32(truncatingIfNeeded: value)) }
        if sixToFour.contains(address) { return .v4(UInt32(truncatingIfNeeded: value >> 80)) }
        return nil
    }

    /// Why `address` is refused, ignoring any allow list; `nil` for an acceptable address.
    static func refusal(for address: IPAddress) -> AddressRefusal? {
        let address = address.unmapped
        let table = address.bitWidth == 32 ? ipv4 : ipv6
        if let (range, category) = table.first(where: { $0.0.contains(address) }) {
            return AddressRefusal(category: category, range: range, embedded: nil)
        }
        if let embedded = embeddedIPv4(in: address), let inner = refusal(for: embedded) {
            return AddressRefusal(category: inner.category, range: inner.range, embedded: embedded)
        }
        return nil
    }
}
