import Crypto
import Foundation

/// A Standard Webhooks signing secret: `whsec_` followed by the base64 of 24 to 64 key bytes.
///
/// The key bytes never appear in `description` or `debugDescription`, so a secret that ends up in a
/// log line or an error message does not leak. ``encoded`` gives the full `whsec_…` string, for the
/// one place that must show it (the response that creates or rotates a subscription's secret) and
/// for persisting it.
public struct SigningSecret: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The prefix every encoded secret starts with.
    public static let prefix = "whsec_"
    /// The fewest key bytes a secret may have (the Standard Webhooks minimum).
    public static let minimumByteCount = 24
    /// The most key bytes a secret may have (the Standard Webhooks maximum).
    public static let maximumByteCount = 64
    /// The size of a generated secret's key.
    public static let generatedByteCount = 32

    /// The HMAC key: the base64-decoded part after `whsec_`. Kept as bytes, not a `SymmetricKey`,
    /// which is not `Sendable` in swift-crypto.
    let keyBytes: [UInt8]

    /// The key for one HMAC computation.
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// Parses and validates an encoded secret.
    /// - Parameter encoded: `whsec_` followed by standard, padded base64 of 24 to 64 bytes.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidSigningSecret``; the
    ///   message never contains the secret.
    public init(_ encoded: String) throws {
        guard encoded.hasPrefix(Self.prefix) else {
            throw Self.invalid("it does not start with \"\(Self.prefix)\"")
        }
        let base64 = encoded.dropFirst(Self.prefix.count)
        guard !base64.isEmpty else {
            throw Self.invalid("nothing follows \"\(Self.prefix)\"")
        }
        guard let bytes = Data(base64Encoded: String(base64)) else {
            throw Self.invalid("the part after \"\(Self.prefix)\" is not valid base64")
        }
        try self.init(keyBytes: bytes)
    }

    /// A secret with the given key bytes.
    /// - Parameter keyBytes: 24 to 64 bytes, ideally from a CSPRNG.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidSigningSecret``.
    public init(keyBytes: some Collection<UInt8>) throws {
        guard (Self.minimumByteCount...Self.maximumByteCount).contains(keyBytes.count) else {
            throw Self.invalid(
                "its key is \(keyBytes.count) bytes; it must be \(Self.minimumByteCount) to \(Self.maximumByteCount)"
            )
        }
        self.keyBytes = Array(keyBytes)
    }

    private init(validated keyBytes: [UInt8]) {
        self.keyBytes = keyBytes
    }

    /// A new secret of ``generatedByteCount`` bytes from the system's cryptographically secure
    /// random number generator.
    public static func generate() -> SigningSecret {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: generatedByteCount * 8))
        return SigningSecret(validated: key.withUnsafeBytes { Array($0) })
    }

    /// The full secret, `whsec_` + base64 of the key. Show it only to the subscriber.
    public var encoded: String {
        Self.prefix + Data(keyBytes).base64EncodedString()
    }

    /// The number of key bytes.
    public var byteCount: Int { keyBytes.count }

    public var description: String { "\(Self.prefix)<redacted \(byteCount)-byte secret>" }
    public var debugDescription: String { "SigningSecret(\(description))" }

    /// Compares in constant time, so equality checks do not leak the key through timing.
    public static func == (lhs: SigningSecret, rhs: SigningSecret) -> Bool {
        guard lhs.keyBytes.count == rhs.keyBytes.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(lhs.keyBytes, rhs.keyBytes) { difference |= a ^ b }
        return difference == 0
    }

    /// Decodes the `whsec_…` string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(container.decode(String.self))
    }

    /// Encodes the `whsec_…` string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(encoded)
    }

    private static func invalid(_ problem: String) -> DispatcherError {
        DispatcherError(
            .invalidSigningSecret,
            "invalid signing secret: \(problem). A secret is \"\(prefix)\" followed by the base64 of "
                + "\(minimumByteCount) to \(maximumByteCount) random bytes (standard base64 with '=' padding)"
        )
    }
}
