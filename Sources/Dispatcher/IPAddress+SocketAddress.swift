import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension IPAddress {
    /// The address in a `sockaddr_in` or `sockaddr_in6`; `nil` for other families.
    ///
    /// Reads the address bytes at their POSIX offsets (4 in `sockaddr_in`, 8 in `sockaddr_in6`, on
    /// Linux and Darwin alike): the structs' members are not visible here under
    /// MemberImportVisibility, since NIO's C shim module is what declares them to Swift.
    init?(sockaddr pointer: UnsafeRawPointer) {
        switch Int32(pointer.loadUnaligned(as: sockaddr.self).sa_family) {
        case AF_INET:
            self.init(bytes: UnsafeRawBufferPointer(start: pointer + 4, count: 4))
        case AF_INET6:
            self.init(bytes: UnsafeRawBufferPointer(start: pointer + 8, count: 16))
        default:
            return nil
        }
    }

    /// The IP address of a NIO socket address; `nil` for a Unix domain socket.
    public init?(_ address: SocketAddress) {
        if case .unixDomainSocket = address { return nil }
        guard let ip = address.withSockAddr({ pointer, _ in IPAddress(sockaddr: UnsafeRawPointer(pointer)) }) else {
            return nil
        }
        self = ip
    }
}
