/// A callback URL that passed the guard's syntax rules, split into the parts a request needs.
///
/// The rules are deliberately narrower than RFC 3986, so that this parser and any HTTP client agree
/// on which host a URL names (parser differentials are a classic way around SSRF guards):
/// - the scheme is `http` or `https`;
/// - no userinfo (`user:password@`): an `@` in the authority is the usual trick to make two parsers
///   disagree, and credentials in a URL end up in logs and listings — send them in the
///   subscription's custom headers (`Authorization`) instead;
/// - no fragment, no whitespace, control characters, backslashes or non-ASCII bytes anywhere
///   (percent-encode them in the path and query; write international host names in their `xn--` form);
/// - the host is a DNS name (letters, digits, `-`, `_`, dots), a dotted-decimal IPv4 address, or a
///   bracketed IPv6 address without a zone id;
/// - a host that ends in a numeric label must be canonical dotted decimal: `127.1`, `2130706433`,
///   `0x7f.1` and `0177.0.0.1` are refused, because resolvers and URL parsers read them as IPv4
///   addresses, and do not all read them the same way;
/// - the port, when given, is 1 to 65535.
public struct CallbackURL: Hashable, Sendable, CustomStringConvertible {
    /// The two schemes a callback may use.
    public enum Scheme: String, Hashable, Sendable {
        case http
        case https

        /// The port used when the URL names none.
        public var defaultPort: Int { self == .http ? 80 : 443 }
    }

    /// `http` or `https`.
    public let scheme: Scheme
    /// The host name in lowercase, or the literal address without brackets.
    public let host: String
    /// The literal address when the host is one; `nil` for a name.
    public let literalAddress: IPAddress?
    /// The explicit port, else the scheme's default.
    public let port: Int
    /// The request target: the path (at least `/`) and the query, as written.
    public let pathAndQuery: String

    /// Parses and checks the syntax of a callback URL; does no DNS and no address check.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidCallbackURL``.
    public init(_ string: String) throws {
        func invalid(_ problem: String) -> DispatcherError {
            DispatcherError(.invalidCallbackURL, "invalid callback URL \"\(Self.printable(string))\": \(problem)")
        }
        let bytes = Array(string.utf8)
        guard bytes.count <= 8192 else { throw invalid("it is longer than 8192 bytes") }
        for byte in bytes {
            if byte <= 0x20 || byte == 0x7F { throw invalid("it contains whitespace or a control character") }
            if byte >= 0x80 {
                throw invalid(
                    "it contains non-ASCII characters; percent-encode them, and use the xn-- form of host names")
            }
            if byte == UInt8(ascii: "\\") { throw invalid("it contains a backslash") }
            if byte == UInt8(ascii: "#") { throw invalid("it has a fragment (#…); receivers never see it, remove it") }
        }
        guard let schemeEnd = string.firstRange(of: "://") else {
            throw invalid("it must start with http:// or https://")
        }
        guard let scheme = Scheme(rawValue: string[..<schemeEnd.lowerBound].lowercased()) else {
            throw invalid("the scheme must be http or https")
        }
        let rest = string[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.first == "?" { target = "/" + target }
        guard !authority.contains("@") else {
            throw invalid("credentials in the URL (user:password@) are not accepted; send them in a custom header")
        }
        guard !authority.isEmpty else { throw invalid("it has no host") }

        var hostPart: Substring
        var portPart: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("an IPv6 host is missing its ']'") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw invalid("unexpected characters after the IPv6 host") }
                portPart = after.dropFirst()
            }
            guard !hostPart.contains("%") else {
                throw invalid("IPv6 zone ids (%…) are not accepted")
            }
            guard let address = IPAddress(hostPart), case .v6 = address else {
                throw invalid("\"[\(hostPart)]\" is not an IPv6 address")
            }
            self.literalAddress = address
            self.host = address.description
        } else {
            if let colon = authority.firstIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                hostPart = authority
            }
            let (name, address) = try Self.checkHost(hostPart.lowercased(), invalid: invalid)
            self.host = name
            self.literalAddress = address
        }
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.utf8.allSatisfy(IPAddress.isDigit),
                let port = Int(portPart), (1...65535).contains(port)
            else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            self.port = port
        } else {
            self.port = scheme.defaultPort
        }
        self.scheme = scheme
        self.pathAndQuery = target
    }

    /// `scheme://host:port`, with brackets around an IPv6 host: what the per-origin limit groups by.
    public var origin: String {
        "\(scheme.rawValue)://\(hostForURL):\(port)"
    }

    /// The host as it appears in a URL or a `Host` header: IPv6 literals in brackets.
    public var hostForURL: String {
        if case .v6 = literalAddress { return "[\(host)]" }
        return host
    }

    /// The normalized URL: lowercase scheme and host, the port only when it is not the default.
    public var description: String {
        let portText = port == scheme.defaultPort ? "" : ":\(port)"
        return "\(scheme.rawValue)://\(hostForURL)\(portText)\(pathAndQuery)"
    }

    /// Checks a lowercased host that is not in brackets: a DNS name or canonical dotted decimal.
    private static func checkHost(
        _ host: String,
        invalid: (String) -> DispatcherError
    ) throws -> (String, IPAddress?) {
        guard !host.isEmpty else { throw invalid("it has no host") }
        guard !host.contains("%") else { throw invalid("percent-encoded host names are not accepted") }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1 && labels.last == "" { labels.removeLast() }  // one trailing dot: a rooted name
        let last = labels.last ?? ""
        let lastIsNumeric =
            !last.isEmpty
            && (last.utf8.allSatisfy(IPAddress.isDigit)
                || ((last.hasPrefix("0x")) && last.utf8.dropFirst(2).allSatisfy(IPAddress.isHexDigit)))
        if lastIsNumeric {
            if let address = IPAddress(host), case .v4 = address { return (address.description, address) }
            if let value = Self.inetAtonValue(host) {
                throw invalid(
                    "the host \"\(host)\" is a non-canonical IPv4 form (it can mean \(IPAddress.v4(value))); "
                        + "write IPv4 addresses in dotted decimal, a.b.c.d"
                )
            }
            throw invalid("the host \"\(host)\" is neither a host name nor an IPv4 address")
        }
        guard host.utf8.count <= 254 else { throw invalid("the host name is longer than 253 characters") }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                label.utf8.allSatisfy(isNameCharacter)
            else {
                throw invalid(
                    "the host \"\(host)\" is not a valid host name (labels of 1 to 63 letters, digits, '-' or '_', "
                        + "separated by dots)"
                )
            }
        }
        return (host, nil)
    }

    private static func isNameCharacter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || IPAddress.isDigit(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    /// The value inet_aton(3) gives `text`: 1 to 4 parts, each decimal, octal (leading 0) or hex
    /// (leading 0x), the last filling the remaining bytes. Used only to explain a refusal.
    static func inetAtonValue(_ text: String) -> UInt32? {
        var parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 1 && parts.last == "" { parts.removeLast() }  // URL parsers drop one trailing dot
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            var digits = Substring(part)
            var radix = 10
            if digits.hasPrefix("0x") {
                radix = 16
                digits = digits.dropFirst(2)
            } else if digits.count > 1 && digits.hasPrefix("0") {
                radix = 8
                digits = digits.dropFirst()
            }
            guard !digits.isEmpty, digits.count <= 12, let value = UInt64(digits, radix: radix) else { return nil }
            values.append(value)
        }
        var result: UInt64 = 0
        for (index, value) in values.enumerated() {
            let isLast = index == values.count - 1
            let bits = isLast ? 8 * (4 - index) : 8
            guard value < (1 << UInt64(bits)) else { return nil }
            result = isLast ? (result << UInt64(bits)) | value : (result << 8) | value
        }
        return UInt32(truncatingIfNeeded: result)
    }

    /// `text` shortened for an error message.
    static func printable(_ text: String) -> String {
        let limited = text.unicodeScalars.prefix(200).map {
            $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?"
        }
        return String(limited) + (text.unicodeScalars.count > 200 ? "…" : "")
    }
}
