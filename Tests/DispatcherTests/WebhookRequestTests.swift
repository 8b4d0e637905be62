import Foundation
import LogStore
import NIOHTTP1
import Testing

@testable import Dispatcher

@Suite struct WebhookRequestTests {
    let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()

    func subscription(headers: [String: String] = [:]) -> Subscription {
        Subscription(
            id: "sub_1", topic: "orders", url: "https://example.com/hook", secret: secret, headers: headers,
            createdAt: Date(), updatedAt: Date())
    }

    func delivery(_ headers: [(String, String)], partition: Int = 2, offset: Int64 = 41) -> PendingDelivery {
        PendingDelivery(
            record: Record(
                offset: offset, timestamp: 0, key: nil, value: Array(#"{"a":1}"#.utf8),
                headers: headers.map { RecordHeader(key: $0.0, value: Array($0.1.utf8)) }),
            partition: partition, attempts: 0, nextAttemptAt: 0)
    }

    @Test func carriesTheEventAndSignsIt() throws {
        let signer = WebhookSigner(secret: try SigningSecret(secret))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let request = WebhookRequest(
            delivery([("ce_id", "evt-1"), ("ce_type", "order.created"), ("content-type", "application/cloudevents")]),
            subscription: subscription(headers: ["X-Env": "prod"]), signer: signer, now: now)
        #expect(request.webhookId == "evt-1")
        #expect(request.headers["webhook-id"] == ["evt-1"])
        #expect(request.headers["webhook-timestamp"] == ["1800000000"])
        #expect(request.headers["ce-type"] == ["order.created"])
        #expect(request.headers["content-type"] == ["application/cloudevents"])
        #expect(request.headers["x-env"] == ["prod"])
        #expect(
            request.headers["webhook-signature"]
                == [signer.signature(id: "evt-1", timestamp: 1_800_000_000, body: Array(#"{"a":1}"#.utf8))])
    }

    @Test func withoutCeIdTheIdIsWhereTheEventWasAppended() throws {
        let signer = WebhookSigner(secret: try SigningSecret(secret))
        let request = WebhookRequest(delivery([]), subscription: subscription(), signer: signer, now: Date())
        #expect(request.webhookId == "orders-2-41")
        #expect(request.headers["content-type"] == ["application/json"])
        // A redriven dead letter keeps the id of the original event.
        let redriven = WebhookRequest(
            delivery(
                [("hooklog_partition", "2"), ("hooklog_offset", "41")], partition: DeliveryWindow.deadLetterPartition,
                offset: 7),
            subscription: subscription(), signer: signer, now: Date())
        #expect(redriven.webhookId == "orders-2-41")
    }

    @Test func percentEncodesWhatAHeaderCannotCarry() {
        #expect(WebhookRequest.headerSafe("plain") == "plain")
        #expect(WebhookRequest.headerSafe("a\nb") == "a%0Ab")
        #expect(WebhookRequest.headerSafe("100%") == "100%25")
        #expect(WebhookRequest.headerSafe("é") == "%C3%A9")
    }
}
