import Foundation

extension Subscription {
    /// Request headers a subscription may not set: the Dispatcher sets them itself.
    static let reservedHeaders: Set<String> = [
        "host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "te", "trailer", "proxy-authorization", "proxy-connection", "expect",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    ]

    /// Checks every field a client can set.
    /// - Throws: `DispatcherError.invalidSubscription` naming the field and the rule.
    public func validate() throws(DispatcherError) {
        try Self.validate(url: url)
        guard eventTypes.count <= 64 else { throw invalid("eventTypes has at most 64 entries") }
        for type in eventTypes where type.isEmpty || type.utf8.count > 256 {
            throw invalid("each of eventTypes has 1 to 256 characters")
        }
        guard (1...Self.maxInFlightLimit).contains(maxInFlight) else {
            throw invalid("maxInFlight must be 1 to \(Self.maxInFlightLimit), not \(maxInFlight)")
        }
        guard headers.count <= 32 else { throw invalid("headers has at most 32 entries") }
        for (name, value) in headers {
            let lower = name.lowercased()
            guard !name.isEmpty, name.utf8.count <= 128, name.utf8.allSatisfy(Self.isTokenCharacter) else {
                throw invalid("header name '\(name)' is not a valid HTTP header name")
            }
            guard !Self.reservedHeaders.contains(lower), !lower.hasPrefix("ce-") else {
                throw invalid("header '\(name)' is set by the Dispatcher and cannot be overridden")
            }
            guard value.utf8.count <= 4096, !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw invalid("header '\(name)' has a value with line breaks or over 4096 bytes")
            }
        }
        if let description, description.utf8.count > 1024 { throw invalid("description has at most 1024 bytes") }
        try Self.validate(secret: secret)
    }

    /// Callback URLs: absolute http(s) with a host and no credentials (``CallbackURL``'s rules;
    /// where the host points is the SSRF guard's business).
    public static func validate(url text: String) throws(DispatcherError) {
        do {
            _ = try CallbackURL(text)
        } catch let error as DispatcherError {
            throw error
        } catch {
            throw DispatcherError(.invalidCallbackURL, "url: \(error)")
        }
    }

    /// Standard Webhooks secrets: `whsec_` and the base64 of 24 to 64 bytes.
    public static func validate(secret: String) throws(DispatcherError) {
        do {
            _ = try SigningSecret(secret)
        } catch let error as DispatcherError {
            throw error
        } catch {
            throw DispatcherError(.invalidSigningSecret, "secret: \(error)")
        }
    }

    /// A new random secret (``SigningSecret/generate()``).
    public static func generateSecret() -> String {
        SigningSecret.generate().encoded
    }

    /// Replaces the secret; the old one keeps signing for ``secretOverlap``.
    public mutating func rotateSecret(to newSecret: String, now: Date) {
        retiredSecrets = retiredSecrets.filter { $0.expiresAt > now }
        retiredSecrets.append(RetiredSecret(secret: secret, expiresAt: now.addingTimeInterval(Self.secretOverlap)))
        secret = newSecret
    }

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private func invalid(_ message: String) -> DispatcherError {
        DispatcherError(.invalidSubscription, message)
    }
}
