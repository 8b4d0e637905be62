import Dispatcher
import NIOCore
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", "0.0.0.0"), ("127.0.0.1", "127.0.0.1"), ("255.255.255.255", "255.255.255.255"),
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2606:4700::1111", "2606:4700::1111"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1"), ("fe80::1:2", "fe80::1:2"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"), ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("64:ff9b::10.0.0.1", "64:ff9b::a00:1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
    ])
    func parsesAndPrintsCanonically(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.04", "0x7f.0.0.1", "1.2.3.-4", " 1.2.3.4",
        "2130706433", ":", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", "12345::", "1:", ":1", "g::",
        "::1.2.3", "1.2.3.4::", "::ffff:1.2.3.04", "fe80::1%eth0", "[::1]",
    ])
    func rejectsNonCanonicalOrMalformedText(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func mappedAddressesUnmapToIPv4() throws {
        #expect(ip("::ffff:10.1.2.3").unmapped == IPAddress(10, 1, 2, 3))
        #expect(ip("::10.1.2.3").unmapped == IPAddress("::10.1.2.3"))
        #expect(IPAddress(8, 8, 8, 8).unmapped == IPAddress(8, 8, 8, 8))
    }

    @Test func fromNIOSocketAddresses() throws {
        #expect(IPAddress(try SocketAddress(ipAddress: "192.168.1.20", port: 80)) == IPAddress(192, 168, 1, 20))
        #expect(IPAddress(try SocketAddress(ipAddress: "2606:4700::1111", port: 443)) == IPAddress("2606:4700::1111"))
        #expect(IPAddress(try SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 443)) == IPAddress("::ffff:127.0.0.1"))
    }
}

@Suite struct CIDRBlockTests {
    @Test func containsAddressesInItsPrefix() throws {
        let block = try CIDRBlock("172.16.0.0/12")
        #expect(block.contains(IPAddress(172, 16, 0, 0)))
        #expect(block.contains(IPAddress(172, 31, 255, 255)))
        #expect(!block.contains(IPAddress(172, 32, 0, 0)))
        #expect(!block.contains(IPAddress(172, 15, 255, 255)))
        #expect(block.contains(ip("::ffff:172.20.1.1")))
        #expect(!block.contains(ip("fd00::1")))

        let v6 = try CIDRBlock("fd00:ec2::/32")
        #expect(v6.contains(ip("fd00:ec2::254")))
        #expect(!v6.contains(ip("fd00:ec3::254")))
        #expect(!v6.contains(IPAddress(10, 0, 0, 1)))
    }

    @Test func edgePrefixLengths() throws {
        #expect(try CIDRBlock("0.0.0.0/0").contains(IPAddress(203, 0, 113, 9)))
        #expect(try CIDRBlock("::/0").contains(ip("2001:db8::1")))
        #expect(!(try CIDRBlock("::/0").contains(IPAddress(203, 0, 113, 9))))
        let single = try CIDRBlock("192.168.1.7")
        #expect(single.prefixLength == 32)
        #expect(single.contains(IPAddress(192, 168, 1, 7)) && !single.contains(IPAddress(192, 168, 1, 8)))
        #expect(try CIDRBlock("::1").prefixLength == 128)
        #expect(try CIDRBlock("2001:db8::1/128").contains(ip("2001:db8::1")))
    }

    @Test func mappedBlocksAreIPv4Blocks() throws {
        let block = try CIDRBlock("::ffff:10.0.0.0/104")
        #expect(block == (try CIDRBlock("10.0.0.0/8")))
        #expect(block.description == "10.0.0.0/8")
        #expect(block.contains(IPAddress(10, 9, 8, 7)))
    }

    @Test func descriptionIsCanonical() throws {
        #expect(try CIDRBlock("FD00:0:0::/8").description == "fd00::/8")
        #expect(try CIDRBlock("10.0.0.0/8").description == "10.0.0.0/8")
        #expect(CIDRBlock(address: IPAddress(192, 168, 7, 9), prefixLength: 16).description == "192.168.0.0/16")
    }

    @Test(arguments: [
        ("", "is not an IP address"), ("10.0.0/8", "is not an IP address"), ("localhost/8", "is not an IP address"),
        ("10.0.0.0/", "prefix length"), ("10.0.0.0/33", "from 0 to 32"), ("::/129", "from 0 to 128"),
        ("10.0.0.0/-1", "prefix length"), ("10.0.0.0/8/8", "prefix length"), ("10.0.0.0/ 8", "prefix length"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"), ("fd00::1/8", "did you mean fd00::/8?"),
    ])
    func rejectsBadBlocks(text: String, problem: String) {
        let error = #expect(throws: DispatcherError.self) { try CIDRBlock(text) }
        #expect(error?.code == .invalidCIDR)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }
}
