import Dispatcher
import Foundation
import NIOCore
import Testing

/// Known vectors computed independently with Python's standard library:
///
///     key = base64.b64decode(secret.removeprefix("whsec_"))
///     "v1," + base64.b64encode(hmac.new(key, f"{id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
///
/// The first one is also the example in the Standard Webhooks specification.
@Suite struct WebhookSignerTests {
    static let specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    /// 64 bytes 0x00…0x3f.
    static let longSecret =
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
    /// 24 bytes 0xab.
    static let shortSecret = "whsec_q6urq6urq6urq6urq6urq6urq6urq6ur"

    @Test func specificationVector() throws {
        let signer = WebhookSigner(secret: try SigningSecret(Self.specSecret))
        let body = Array(#"{"test": 2432232314}"#.utf8)
        #expect(
            signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body)
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
    }

    @Test func binaryBodyWithLongestKey() throws {
        let signer = WebhookSigner(secret: try SigningSecret(Self.longSecret))
        let body = (0...255).map { UInt8($0) }
        let expected = "v1,S42o0c+7TvO/9gS6qDGhueueGsdTehotzq9+TODBgyY="
        #expect(signer.signature(id: "evt-1", timestamp: 1_700_000_000, body: body) == expected)
        // The same bytes as a ByteBuffer, a Data, and a non-contiguous collection.
        #expect(signer.signature(id: "evt-1", timestamp: 1_700_000_000, body: ByteBuffer(bytes: body)) == expected)
        #expect(signer.signature(id: "evt-1", timestamp: 1_700_000_000, body: Data(body)) == expected)
        #expect(signer.signature(id: "evt-1", timestamp: 1_700_000_000, body: body.lazy.map { $0 }) == expected)
    }

    @Test func utf8BodyWithShortestKey() throws {
        let signer = WebhookSigner(secret: try SigningSecret(Self.shortSecret))
        #expect(
            signer.signature(id: "orders-0-42", timestamp: 1_700_000_001, body: "héllo, wörld ✓".utf8)
                == "v1,3Y60GQD7hx8/s8xKgS203C3qQ1P+O910vaV58QYV7Xk="
        )
        #expect(
            signer.signature(id: "x", timestamp: 0, body: [UInt8]())
                == "v1,lsDYnJPl6qitthC5vEvwq5B3egZsNZqHxCuN0/6jJfY=")
    }

    @Test func onlyTheReadableBytesOfAByteBufferAreSigned() throws {
        let signer = WebhookSigner(secret: try SigningSecret(Self.specSecret))
        var buffer = ByteBuffer(string: "junk" + #"{"test": 2432232314}"#)
        buffer.moveReaderIndex(forwardBy: 4)
        #expect(
            signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: buffer)
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
    }

    @Test func rotationSignsWithEverySecretInOrder() throws {
        let new = try SigningSecret(Self.longSecret)
        let old = try SigningSecret(Self.shortSecret)
        let signer = WebhookSigner(secrets: [new, old])
        let body = "héllo, wörld ✓".utf8
        let header = signer.signature(id: "orders-0-42", timestamp: 1_700_000_001, body: body)
        let entries = header.split(separator: " ").map(String.init)
        #expect(entries.count == 2)
        #expect(
            entries[0] == WebhookSigner(secret: new).signature(id: "orders-0-42", timestamp: 1_700_000_001, body: body))
        #expect(entries[1] == "v1,3Y60GQD7hx8/s8xKgS203C3qQ1P+O910vaV58QYV7Xk=")
    }

    @Test func signatureDependsOnIdTimestampAndBody() throws {
        let signer = WebhookSigner(secret: try SigningSecret(Self.specSecret))
        let base = signer.signature(id: "a", timestamp: 1, body: [1, 2, 3])
        #expect(signer.signature(id: "b", timestamp: 1, body: [1, 2, 3]) != base)
        #expect(signer.signature(id: "a", timestamp: 2, body: [1, 2, 3]) != base)
        #expect(signer.signature(id: "a", timestamp: 1, body: [1, 2, 4]) != base)
    }
}

@Suite struct SigningSecretTests {
    @Test func roundTripsItsEncodedForm() throws {
        for text in [WebhookSignerTests.specSecret, WebhookSignerTests.longSecret, WebhookSignerTests.shortSecret] {
            #expect(try SigningSecret(text).encoded == text)
        }
    }

    @Test func generatedSecretsAreValidDistinctAnd32Bytes() throws {
        let a = SigningSecret.generate()
        let b = SigningSecret.generate()
        #expect(a != b)
        #expect(a.byteCount == 32)
        #expect(a.encoded.hasPrefix("whsec_"))
        #expect(try SigningSecret(a.encoded) == a)
    }

    @Test func descriptionsNeverShowTheKey() throws {
        let secret = try SigningSecret(WebhookSignerTests.specSecret)
        let key = String(WebhookSignerTests.specSecret.dropFirst(6))
        for text in [
            secret.description, secret.debugDescription, "\(secret)", String(reflecting: secret), "\([secret])",
        ] {
            #expect(!text.contains(key))
            #expect(!text.contains(String(key.prefix(8))))
        }
        #expect(secret.description.contains("redacted"))
    }

    @Test(arguments: [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with \"whsec_\""),
        ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with \"whsec_\""),
        ("whsec_", "nothing follows"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", "not valid base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "not valid base64"),  // not a multiple of 4
        ("whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not valid base64"),
        ("whsec_c2hvcnQ=", "is 5 bytes"),  // "short"
        ("whsec_" + Data(repeating: 1, count: 23).base64EncodedString(), "is 23 bytes"),
        ("whsec_" + Data(repeating: 1, count: 65).base64EncodedString(), "is 65 bytes"),
    ])
    func rejectsBadSecrets(text: String, problem: String) throws {
        let error = #expect(throws: DispatcherError.self) { try SigningSecret(text) }
        #expect(error?.code == .invalidSigningSecret)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("24 to 64") == true)
        // The message must not echo the (possibly real) secret back.
        if text.count > 16 { #expect(error?.message.contains(String(text.dropFirst(6).prefix(12))) == false) }
    }

    @Test func keyBytesOutsideTheRangeAreRejected() {
        #expect(throws: DispatcherError.self) { try SigningSecret(keyBytes: [UInt8](repeating: 0, count: 23)) }
        #expect(throws: DispatcherError.self) { try SigningSecret(keyBytes: [UInt8](repeating: 0, count: 65)) }
        #expect(throws: Never.self) { try SigningSecret(keyBytes: [UInt8](repeating: 0, count: 24)) }
    }

    @Test func codableAsTheEncodedString() throws {
        let secret = try SigningSecret(WebhookSignerTests.shortSecret)
        let json = try JSONEncoder().encode([secret])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(WebhookSignerTests.shortSecret)\"]")
        #expect(try JSONDecoder().decode([SigningSecret].self, from: json) == [secret])
        #expect(throws: DispatcherError.self) {
            try JSONDecoder().decode([SigningSecret].self, from: Data(#"["whsec_x"]"#.utf8))
        }
    }
}
