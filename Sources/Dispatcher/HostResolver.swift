import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resolves host names to addresses for the callback guard.
///
/// A protocol so tests (and a future resolver with its own cache) can stand in for the system's.
public protocol HostResolver: Sendable {
    /// Every address `host` resolves to, IPv4 and IPv6.
    /// - Throws: when the name does not resolve; the error says why.
    func addresses(of host: String) async throws -> [IPAddress]
}

/// The system resolver: `getaddrinfo(3)`, run on a NIO thread pool so the blocking call never holds
/// a thread of Swift's cooperative pool.
public struct SystemHostResolver: HostResolver {
    private let threadPool: NIOThreadPool

    /// A resolver that runs on `threadPool` (by default NIO's shared pool).
    public init(threadPool: NIOThreadPool = .singleton) {
        self.threadPool = threadPool
    }

    public func addresses(of host: String) async throws -> [IPAddress] {
        try await threadPool.runIfActive { try Self.lookUp(host) }
    }

    /// Blocking lookup of every address of `host`, in the resolver's order, without duplicates.
    ///
    /// No `AI_ADDRCONFIG`: the guard must see the IPv6 addresses of a name even on a host without
    /// IPv6 connectivity.
    static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
            hints.ai_socktype = SOCK_STREAM
        #else
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            let reason = String(cString: gai_strerror(status))
            throw DispatcherError(.hostNotResolved, "\"\(host)\" does not resolve: \(reason)")
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var next = list
        while let entry = next {
            if let address = entry.pointee.ai_addr.flatMap({ IPAddress(sockaddr: UnsafeRawPointer($0)) }),
                !addresses.contains(address)
            {
                addresses.append(address)
            }
            next = entry.pointee.ai_next
        }
        return addresses
    }
}
