import Foundation
import LogStore
import NIOHTTP1

/// The HTTP request of one delivery attempt: the record value as the body; the Standard
/// Webhooks headers computed at `now`; the event's CloudEvents attributes as `ce-*` headers
/// (percent-encoded where HTTP needs it); the subscription's own headers.
struct WebhookRequest: Sendable {
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Stable across retries, replays, redrives and restarts: the event's `ce_id`, else
    /// `<topic>-<partition>-<offset>` of where it was first appended.
    var webhookId: String

    init(_ delivery: PendingDelivery, subscription: Subscription, signer: WebhookSigner, now: Date) {
        let record = delivery.record
        body = record.value ?? []
        headers = HTTPHeaders()
        var contentType = "application/json"
        var ceId: String?
        for header in record.headers {
            guard let value = header.value else { continue }
            let text = String(decoding: value, as: UTF8.self)
            if header.key == "content-type" {
                contentType = text
            } else if header.key.hasPrefix("ce_") {
                if header.key == "ce_id" { ceId = text }
                headers.add(name: "ce-" + header.key.dropFirst(3), value: Self.headerSafe(text))
            }
        }
        let origin = Self.origin(of: delivery)
        webhookId = ceId ?? "\(subscription.topic)-\(origin.partition)-\(origin.offset)"
        let timestamp = Int64(now.timeIntervalSince1970)
        for (name, value) in subscription.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        headers.replaceOrAdd(name: "content-type", value: contentType)
        headers.replaceOrAdd(name: "user-agent", value: "hooklog")
        headers.replaceOrAdd(name: WebhookSigner.idHeader, value: webhookId)
        headers.replaceOrAdd(name: WebhookSigner.timestampHeader, value: String(timestamp))
        headers.replaceOrAdd(
            name: WebhookSigner.signatureHeader, value: signer.signature(id: webhookId, timestamp: timestamp, body: body))
    }

    /// Percent-encodes what a header value cannot carry (the CloudEvents HTTP binding's rule).
    static func headerSafe(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 > 0x7E || $0 == UInt8(ascii: "%") }) else { return text }
        var result = ""
        for byte in text.utf8 {
            if byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\"") {
                result += String(format: "%%%02X", byte)
            } else {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return result
    }

    static func header(_ name: String, of record: Record) -> String? {
        record.headers.first { $0.key == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Where an event came from: its own partition and offset, or for a redriven dead letter
    /// the coordinates recorded with it.
    static func origin(of delivery: PendingDelivery) -> (partition: Int, offset: Int64) {
        guard delivery.partition == DeliveryWindow.deadLetterPartition,
            let partition = header("hooklog_partition", of: delivery.record).flatMap({ Int($0) }),
            let offset = header("hooklog_offset", of: delivery.record).flatMap({ Int64($0) })
        else { return (delivery.partition, delivery.offset) }
        return (partition, offset)
    }
}
