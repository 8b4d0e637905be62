import Dispatcher
import Testing

@Suite struct CallbackURLTests {
    @Test func splitsAURLIntoItsParts() throws {
        let url = try CallbackURL("HTTPS://Hooks.Example.COM:8443/in/orders?tenant=7&x=%20")
        #expect(url.scheme == .https)
        #expect(url.host == "hooks.example.com")
        #expect(url.port == 8443)
        #expect(url.pathAndQuery == "/in/orders?tenant=7&x=%20")
        #expect(url.literalAddress == nil)
        #expect(url.origin == "https://hooks.example.com:8443")
        #expect(url.description == "https://hooks.example.com:8443/in/orders?tenant=7&x=%20")
    }

    @Test func defaultsPortAndPath() throws {
        let http = try CallbackURL("http://example.com")
        #expect(http.port == 80 && http.pathAndQuery == "/" && http.description == "http://example.com/")
        let https = try CallbackURL("https://example.com?a=1")
        #expect(https.port == 443 && https.pathAndQuery == "/?a=1" && https.origin == "https://example.com:443")
        #expect(try CallbackURL("https://example.com:443/x").description == "https://example.com/x")
    }

    @Test func literalHosts() throws {
        let v4 = try CallbackURL("http://93.184.215.14:8080/hook")
        #expect(v4.literalAddress == IPAddress(93, 184, 215, 14))
        #expect(v4.host == "93.184.215.14")
        let v6 = try CallbackURL("https://[2606:4700:0::1111]/hook")
        #expect(v6.literalAddress == IPAddress("2606:4700::1111"))
        #expect(v6.host == "2606:4700::1111")
        #expect(v6.hostForURL == "[2606:4700::1111]")
        #expect(v6.origin == "https://[2606:4700::1111]:443")
        let mapped = try CallbackURL("http://[::ffff:127.0.0.1]:9000/")
        #expect(mapped.literalAddress == IPAddress("::ffff:127.0.0.1"))
        #expect(mapped.port == 9000)
    }

    @Test func acceptsOrdinaryHostNames() throws {
        for host in [
            "localhost", "a", "my_service.internal", "xn--bcher-kva.example", "example.com.", "1e100.net",
            "123abc.example",
        ] {
            #expect(throws: Never.self, "\(host)") { try CallbackURL("https://\(host)/") }
        }
    }

    @Test(arguments: [
        ("ftp://example.com/", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://127.0.0.1:6379/_", "scheme must be http or https"),
        ("example.com/hook", "must start with http:// or https://"),
        ("http:/example.com", "must start with http:// or https://"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://127.0.0.1#@example.com/", "fragment"),
        ("https://example.com/hook#part", "fragment"),
        ("http://example.com\\@127.0.0.1/", "backslash"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\n", "whitespace"),
        ("http://exämple.com/", "non-ASCII"),
        ("http://ex%61mple.com/", "percent-encoded"),
        ("http://example.com:0/", "port must be a number from 1 to 65535"),
        ("http://example.com:65536/", "port must be a number from 1 to 65535"),
        ("http://example.com:/", "port must be a number from 1 to 65535"),
        ("http://example.com:+80/", "port must be a number from 1 to 65535"),
        ("http://example.com:80:80/", "port must be a number from 1 to 65535"),
        ("http://exa..mple.com/", "not a valid host name"),
        ("http://.example.com/", "not a valid host name"),
        ("http://ex!ample.com/", "not a valid host name"),
        ("http://[::1/", "missing its ']'"),
        ("http://[fe80::1%25eth0]/", "zone ids"),
        ("http://[127.0.0.1]/", "is not an IPv6 address"),
        ("http://[::1]x/", "unexpected characters"),
        ("http://[gg::1]/", "is not an IPv6 address"),
    ])
    func rejectsMalformedOrAmbiguousURLs(url: String, problem: String) {
        let error = #expect(throws: DispatcherError.self) { try CallbackURL(url) }
        #expect(error?.code == .invalidCallbackURL)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }

    /// Hosts that inet_aton and URL parsers read as IPv4 addresses are refused unless canonical.
    @Test(arguments: [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://010.0.0.1/", "8.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://3627734542/", "216.58.214.14"),  // non-canonical even when public
    ])
    func refusesNonCanonicalNumericHosts(url: String, meaning: String) {
        let error = #expect(throws: DispatcherError.self) { try CallbackURL(url) }
        #expect(error?.code == .invalidCallbackURL)
        #expect(
            error?.message.contains("non-canonical IPv4 form (it can mean \(meaning))") == true,
            "\(error?.message ?? "")")
    }

    @Test func refusesNumericHostsThatAreNoAddressAtAll() {
        for url in [
            "http://1.2.3.4.5/", "http://256.1.1.1/", "http://example.123/", "http://99999999999/", "http://0x/",
        ] {
            let error = #expect(throws: DispatcherError.self, "\(url)") { try CallbackURL(url) }
            #expect(error?.code == .invalidCallbackURL)
        }
    }
}
