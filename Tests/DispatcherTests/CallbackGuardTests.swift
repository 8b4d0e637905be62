import Dispatcher
import NIOCore
import Testing

/// A literal address for tests (crashes on a typo, which the test then shows).
func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad address literal in a test: \(text)") }
    return address
}

/// A resolver with a fixed table, so no test depends on outside DNS.
struct StubResolver: HostResolver {
    var table: [String: [IPAddress]]

    func addresses(of host: String) async throws -> [IPAddress] {
        guard let addresses = table[host] else {
            throw DispatcherError(.hostNotResolved, "\"\(host)\" does not resolve: stub has no entry")
        }
        return addresses
    }
}

/// A resolver that takes `seconds` to answer and ignores cancellation, like a blocking getaddrinfo.
struct SlowResolver: HostResolver {
    var seconds: Int

    func addresses(of host: String) async throws -> [IPAddress] {
        let seconds = self.seconds
        await Task.detached { try? await Task.sleep(for: .seconds(seconds)) }.value
        return [IPAddress(93, 184, 215, 14)]
    }
}

@Suite struct CallbackGuardTests {
    let callbackGuard = CallbackGuard(resolver: StubResolver(table: [:]))

    /// One address from each refused range, with the word its refusal must name.
    static let refusedIPv4: [(String, String)] = [
        ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"), ("10.255.255.255", "private"),
        ("172.16.0.1", "private"), ("172.31.255.254", "private"),
        ("192.168.0.1", "private"), ("192.168.255.255", "private"),
        ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"),
        ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"),
        ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
        ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"),
        ("192.0.0.170", "protocol-assignment"), ("198.18.0.1", "benchmarking"),
    ]

    static let refusedIPv6: [(String, String)] = [
        ("::1", "loopback"), ("::", "unspecified"),
        ("fc00::1", "unique local"), ("fd00:ec2::254", "unique local"),
        ("fe80::1", "link-local"), ("febf:ffff::1", "link-local"),
        ("ff02::1", "multicast"), ("ff0e::1", "multicast"),
        ("fec0::1", "site-local"), ("::7f00:1", "IPv4-compatible"), ("::8.8.8.8", "IPv4-compatible"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        // NAT64 and 6to4 forms carry an IPv4 address, which is what gets judged.
        ("64:ff9b::127.0.0.1", "loopback"), ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:c0a8:101::1", "private"), ("2002:7f00:1::", "loopback"),
    ]

    static let acceptedAddresses = [
        "93.184.215.14", "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
        "169.253.255.255", "223.255.255.255", "11.0.0.1", "192.169.0.1", "2606:4700::1111", "2001:4860:4860::8888",
        "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "fbff::1", "fe7f::1",
    ]

    @Test(arguments: refusedIPv4)
    func refusesLiteralIPv4(address: String, category: String) async throws {
        let error = await #expect(throws: DispatcherError.self) {
            try await callbackGuard.check(url: "http://\(address)/hook")
        }
        #expect(error?.code == .callbackAddressRefused)
        #expect(error?.message.contains(category) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("--callback-allow") == true)
    }

    @Test(arguments: refusedIPv4)
    func refusesIPv4MappedIPv6(address: String, category: String) async throws {
        let error = await #expect(throws: DispatcherError.self) {
            try await callbackGuard.check(url: "https://[::ffff:\(address)]:8443/hook")
        }
        #expect(error?.code == .callbackAddressRefused)
        #expect(error?.message.contains(category) == true, "\(error?.message ?? "")")
        // Also in its hex form.
        guard case .v4(let value) = ip(address) else { return }
        let hex = "::ffff:\(String(value >> 16, radix: 16)):\(String(value & 0xFFFF, radix: 16))"
        #expect(callbackGuard.refusalReason(for: ip(hex))?.contains(category) == true)
    }

    @Test(arguments: refusedIPv6)
    func refusesLiteralIPv6(address: String, category: String) async throws {
        let error = await #expect(throws: DispatcherError.self) {
            try await callbackGuard.check(url: "http://[\(address)]/")
        }
        #expect(error?.code == .callbackAddressRefused)
        #expect(error?.message.contains(category) == true, "\(error?.message ?? "")")
    }

    @Test(arguments: acceptedAddresses)
    func acceptsPublicLiterals(address: String) async throws {
        let literal = ip(address)
        let host = address.contains(":") ? "[\(address)]" : address
        let checked = try await callbackGuard.check(url: "https://\(host)/hook")
        #expect(checked.resolution == .literal(literal))
        #expect(callbackGuard.refusalReason(for: literal) == nil)
    }

    @Test func refusalReasonNamesTheRangeAndTheWayOut() throws {
        let reason = try #require(callbackGuard.refusalReason(for: IPAddress(169, 254, 169, 254)))
        #expect(reason.contains("169.254.169.254"))
        #expect(reason.contains("169.254.0.0/16"))
        #expect(reason.contains("cloud metadata"))
        #expect(reason.contains("--callback-allow 169.254.0.0/16"))
        let nat64 = try #require(callbackGuard.refusalReason(for: ip("64:ff9b::a00:1")))
        #expect(nat64.contains("carries 10.0.0.1"))
    }

    @Test func refusalReasonForNIOSocketAddresses() throws {
        #expect(callbackGuard.refusalReason(for: try SocketAddress(ipAddress: "127.0.0.1", port: 80)) != nil)
        #expect(callbackGuard.refusalReason(for: try SocketAddress(ipAddress: "::ffff:10.0.0.1", port: 80)) != nil)
        #expect(callbackGuard.refusalReason(for: try SocketAddress(ipAddress: "93.184.215.14", port: 80)) == nil)
        #expect(callbackGuard.refusalReason(for: try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")) != nil)
    }

    @Test func allowListOpensExactlyItsBlocks() async throws {
        let callbackGuard = CallbackGuard(
            allowed: [try CIDRBlock("10.1.0.0/16"), try CIDRBlock("127.0.0.1"), try CIDRBlock("fd00:ec2::/32")],
            resolver: StubResolver(table: [
                "sink.internal": [IPAddress(10, 1, 2, 3)],
                "mixed.internal": [IPAddress(10, 1, 2, 3), IPAddress(10, 2, 0, 1)],
            ])
        )
        for url in [
            "http://10.1.2.3/", "http://127.0.0.1:8080/", "http://[::ffff:10.1.0.9]/", "http://[fd00:ec2::254]/",
            "http://[64:ff9b::a01:203]/", "http://sink.internal/",
        ] {
            await #expect(throws: Never.self, "\(url)") { _ = try await callbackGuard.check(url: url) }
        }
        for url in [
            "http://10.2.0.1/", "http://127.0.0.2/", "http://[::1]/", "http://[fd00:ec3::1]/", "http://mixed.internal/",
        ] {
            let error = await #expect(throws: DispatcherError.self, "\(url)") {
                try await callbackGuard.check(url: url)
            }
            #expect(error?.code == .callbackAddressRefused)
        }
    }

    @Test func allowingEverythingTurnsTheGuardOff() throws {
        let open = CallbackGuard(
            allowed: [try CIDRBlock("0.0.0.0/0"), try CIDRBlock("::/0")], resolver: StubResolver(table: [:]))
        for text in ["127.0.0.1", "::1", "::ffff:10.0.0.1", "169.254.169.254", "fe80::1"] {
            #expect(open.refusalReason(for: ip(text)) == nil, "\(text)")
        }
    }

    @Test func namesResolvingToARefusedAddressAreRefused() async throws {
        let callbackGuard = CallbackGuard(
            resolver: StubResolver(table: [
                "public.example": [IPAddress(93, 184, 215, 14), ip("2606:4700::1111")],
                "rebind.example": [IPAddress(93, 184, 215, 14), IPAddress(169, 254, 169, 254)],
                "v6private.example": [ip("fd12::1")],
                "empty.example": [],
            ])
        )
        let ok = try await callbackGuard.check(url: "https://public.example/hook")
        #expect(ok.resolution == .resolved([IPAddress(93, 184, 215, 14), ip("2606:4700::1111")]))
        #expect(ok.url.host == "public.example")

        for host in ["rebind.example", "v6private.example"] {
            let error = await #expect(throws: DispatcherError.self) {
                try await callbackGuard.check(url: "https://\(host)/")
            }
            #expect(error?.code == .callbackAddressRefused)
            #expect(error?.message.contains("\(host) resolves to") == true, "\(error?.message ?? "")")
        }
        let empty = try await callbackGuard.check(url: "https://empty.example/")
        guard case .unresolved = empty.resolution else {
            Issue.record("a name without addresses should be accepted as unresolved: \(empty.resolution)")
            return
        }
    }

    @Test func systemResolverRefusesLocalhost() async throws {
        let callbackGuard = CallbackGuard()
        let error = await #expect(throws: DispatcherError.self) {
            try await callbackGuard.check(url: "http://localhost:8080/hook")
        }
        #expect(error?.code == .callbackAddressRefused)
        #expect(error?.message.contains("loopback") == true, "\(error?.message ?? "")")
        // Host names are case-insensitive.
        await #expect(throws: DispatcherError.self) { try await callbackGuard.check(url: "http://LOCALHOST/") }
    }

    @Test func systemResolverAcceptsNamesThatDoNotResolve() async throws {
        let checked = try await CallbackGuard().check(url: "https://hooklog-test-no-such-host.invalid/hook")
        guard case .unresolved(let reason) = checked.resolution else {
            Issue.record("expected .unresolved, got \(checked.resolution)")
            return
        }
        #expect(!reason.isEmpty)
        #expect(checked.url.host == "hooklog-test-no-such-host.invalid")
    }

    @Test func systemResolverReturnsLoopbackForLocalhost() async throws {
        let addresses = try await SystemHostResolver().addresses(of: "localhost")
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0 == IPAddress(127, 0, 0, 1) || $0 == IPAddress("::1") })
    }

    @Test func aSlowResolverDoesNotHoldUpSubscribing() async throws {
        // The resolver takes 30 s; the check must come back long before (the margin is wide
        // because the whole suite shares two cores).
        let callbackGuard = CallbackGuard(resolver: SlowResolver(seconds: 30), resolutionTimeout: .milliseconds(100))
        let start = ContinuousClock.now
        let checked = try await callbackGuard.check(url: "https://slow.example/")
        #expect(ContinuousClock.now - start < .seconds(15))
        guard case .unresolved(let reason) = checked.resolution else {
            Issue.record("expected .unresolved, got \(checked.resolution)")
            return
        }
        #expect(reason.contains("within"))
    }

    @Test func cancellingTheCallerEndsTheCheck() async throws {
        let callbackGuard = CallbackGuard(resolver: SlowResolver(seconds: 3), resolutionTimeout: .seconds(60))
        let task = Task { try await callbackGuard.check(url: "https://slow.example/") }
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func invalidURLsAreReportedAsSuch() async {
        let error = await #expect(throws: DispatcherError.self) {
            try await callbackGuard.check(url: "http://2130706433/")
        }
        #expect(error?.code == .invalidCallbackURL)
    }
}
