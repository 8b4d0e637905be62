/// A block of IP addresses in CIDR notation: `10.0.0.0/8`, `fd00::/8`, or a single address.
///
/// Used for the callback guard's allow list (`hooklog serve --callback-allow CIDR`) and its table of
/// refused ranges. A block written as IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) is the IPv4 block it
/// stands for, and IPv4-mapped addresses match IPv4 blocks.
public struct CIDRBlock: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the block (all host bits zero).
    public let network: IPAddress
    /// The number of leading bits that every address in the block shares.
    public let prefixLength: Int

    /// Parses `address/prefix`, or a bare address (a block of one).
    /// - Parameter text: for example `10.0.0.0/8`, `192.168.1.7`, `fd00:ec2::/32`.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidCIDR`` when the address
    ///   or prefix does not parse, the prefix is too long for the family, or host bits are set.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw DispatcherError(
                .invalidCIDR,
                "\"\(text)\" is not a CIDR block: \"\(parts[0])\" is not an IP address; write an IPv4 address "
                    + "in dotted decimal (10.0.0.0/8) or an IPv6 address (fd00::/8)"
            )
        }
        var prefixLength = address.bitWidth
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.utf8.allSatisfy(IPAddress.isDigit),
                let length = Int(digits), length <= address.bitWidth
            else {
                throw DispatcherError(
                    .invalidCIDR,
                    "\"\(text)\" is not a CIDR block: the prefix length must be a number from 0 to "
                        + "\(address.bitWidth) for an IPv\(address.bitWidth == 32 ? 4 : 6) address"
                )
            }
            prefixLength = length
        }
        let block = CIDRBlock(unchecked: address, prefixLength: prefixLength)
        guard block.network == address else {
            throw DispatcherError(
                .invalidCIDR,
                "\"\(text)\" is not a CIDR block: \(address) has bits set past the /\(prefixLength) prefix; "
                    + "did you mean \(CIDRBlock(unchecked: address, prefixLength: prefixLength).textForm)?"
            )
        }
        self = block.unmapped
    }

    /// The block of `prefixLength` leading bits of `address` (the remaining bits are cleared).
    /// - Precondition: `prefixLength` is from 0 to the address's bit width.
    public init(address: IPAddress, prefixLength: Int) {
        precondition((0...address.bitWidth).contains(prefixLength), "prefix length out of range")
        self = CIDRBlock(unchecked: address, prefixLength: prefixLength).unmapped
    }

    private init(unchecked address: IPAddress, prefixLength: Int) {
        switch address {
        case .v4(let value):
            let mask: UInt32 = prefixLength == 0 ? 0 : ~0 << (32 - prefixLength)
            self.network = .v4(value & mask)
        case .v6(let value):
            let mask: UInt128 = prefixLength == 0 ? 0 : ~0 << (128 - prefixLength)
            self.network = .v6(value & mask)
        }
        self.prefixLength = prefixLength
    }

    /// An IPv6 block inside `::ffff:0:0/96` as the IPv4 block it stands for.
    private var unmapped: CIDRBlock {
        if case .v6(let value) = network, prefixLength >= 96, value >> 32 == 0xFFFF {
            return CIDRBlock(unchecked: .v4(UInt32(truncatingIfNeeded: value)), prefixLength: prefixLength - 96)
        }
        return self
    }

    /// Whether `address` lies in this block (an IPv4-mapped IPv6 address is judged as its IPv4 address).
    public func contains(_ address: IPAddress) -> Bool {
        switch (network, address.unmapped) {
        case (.v4(let network), .v4(let value)):
            let mask: UInt32 = prefixLength == 0 ? 0 : ~0 << (32 - prefixLength)
            return value & mask == network
        case (.v6(let network), .v6(let value)):
            let mask: UInt128 = prefixLength == 0 ? 0 : ~0 << (128 - prefixLength)
            return value & mask == network
        default:
            return false
        }
    }

    private var textForm: String { "\(network)/\(prefixLength)" }

    public var description: String { textForm }
}
