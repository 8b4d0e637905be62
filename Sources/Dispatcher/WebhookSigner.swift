import Crypto
import Foundation
import NIOCore

/// Signs webhook requests as Standard Webhooks (https://www.standardwebhooks.com) specifies.
///
/// Each signature is `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with a
/// secret's decoded bytes. With several secrets (during a secret rotation: the new one and, for
/// 24 hours, the old one) the header value carries one signature per secret, space-separated, and a
/// receiver that knows either secret accepts the request.
///
/// Sign at every attempt: the timestamp is the attempt's time, and receivers refuse timestamps
/// more than a few minutes away from their clock.
public struct WebhookSigner: Sendable {
    /// The request header that carries the message id (stable across retries).
    public static let idHeader = "webhook-id"
    /// The request header that carries the attempt's Unix time in seconds.
    public static let timestampHeader = "webhook-timestamp"
    /// The request header that carries the signatures.
    public static let signatureHeader = "webhook-signature"

    /// The secrets to sign with, in the order their signatures appear.
    public let secrets: [SigningSecret]

    /// A signer for the given secrets.
    /// - Parameter secrets: at least one; during a rotation, the new secret first, then the old one.
    public init(secrets: [SigningSecret]) {
        precondition(!secrets.isEmpty, "a WebhookSigner needs at least one secret")
        self.secrets = secrets
    }

    /// A signer with one secret.
    public init(secret: SigningSecret) {
        self.secrets = [secret]
    }

    /// The `webhook-signature` header value for one request.
    /// - Parameters:
    ///   - id: the `webhook-id` header value.
    ///   - timestamp: the `webhook-timestamp` header value, Unix seconds.
    ///   - body: the exact bytes of the request body; they are read in place, not copied.
    /// - Returns: `v1,<base64>` per secret, space-separated.
    public func signature(id: String, timestamp: Int64, body: ByteBuffer) -> String {
        body.withUnsafeReadableBytes { signature(id: id, timestamp: timestamp, bodyBytes: $0) }
    }

    /// The `webhook-signature` header value for one request.
    /// - Parameters:
    ///   - id: the `webhook-id` header value.
    ///   - timestamp: the `webhook-timestamp` header value, Unix seconds.
    ///   - body: the exact bytes of the request body; read in place when the collection has
    ///     contiguous storage (arrays, `Data`, native strings' UTF-8 views), copied once otherwise.
    /// - Returns: `v1,<base64>` per secret, space-separated.
    public func signature(id: String, timestamp: Int64, body: some Collection<UInt8>) -> String {
        let signed = body.withContiguousStorageIfAvailable {
            signature(id: id, timestamp: timestamp, bodyBytes: UnsafeRawBufferPointer($0))
        }
        if let signed { return signed }
        return Array(body).withUnsafeBytes { signature(id: id, timestamp: timestamp, bodyBytes: $0) }
    }

    private func signature(id: String, timestamp: Int64, bodyBytes: UnsafeRawBufferPointer) -> String {
        var prefix = Array(id.utf8)
        prefix.append(UInt8(ascii: "."))
        prefix.append(contentsOf: String(timestamp).utf8)
        prefix.append(UInt8(ascii: "."))
        var header = ""
        for secret in secrets {
            var mac = HMAC<SHA256>(key: secret.key)
            mac.update(data: prefix)
            mac.update(data: bodyBytes)
            let code = mac.finalize()
            if !header.isEmpty { header.append(" ") }
            header.append("v1,")
            header.append(Data(code).base64EncodedString())
        }
        return header
    }
}
