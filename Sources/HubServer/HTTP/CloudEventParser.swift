import Foundation
import HTTPTypes
import LogStore

/// One event from an HTTP request, in the CloudEvents Kafka binding's binary form: the data is
/// the record value, attributes are `ce_*` record headers, `partitionkey` is the record key.
struct IncomingEvent: Sendable {
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [RecordHeader]

    /// An upper bound of the bytes this event takes as the only record of a batch (61 bytes of
    /// batch header, the record, and at most 5 bytes per varint).
    var batchSize: Int {
        let headerBytes = headers.reduce(0) { $0 + 10 + $1.key.utf8.count + ($1.value?.count ?? 0) }
        return 61 + 5 + 1 + 5 + 5 + 5 + (key?.count ?? 0) + 5 + value.count + 5 + headerBytes
    }

    /// The `ce_id` header (every stored event has one).
    var id: String {
        headers.first { $0.key == "ce_id" }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } ?? ""
    }
}

/// Turns `POST /topics/{topic}/events` bodies into events: CloudEvents binary mode (body = data,
/// `ce-*` headers), structured mode (`application/cloudevents+json`), batch mode
/// (`application/cloudevents-batch+json`), or a plain body (data, with a generated `ce_id`).
enum CloudEventParser {
    static let structuredType = "application/cloudevents+json"
    static let batchType = "application/cloudevents-batch+json"

    /// The events of a request with `fields` and `body`.
    /// - Throws: ``APIError`` 400 for malformed events, 413 for an event over the size limit.
    static func events(fields: HTTPFields, body: [UInt8], maxEventBytes: Int) throws(APIError) -> [IncomingEvent] {
        let mediaType = fields[.contentType].map(Self.mediaType) ?? ""
        let events: [IncomingEvent]
        switch mediaType {
        case structuredType:
            events = [try structured(body, at: nil)]
        case batchType:
            let elements: [Range<Int>]
            do {
                guard String(validating: body, as: UTF8.self) != nil else { throw JSONScanner.Failure(message: "invalid UTF-8") }
                elements = try JSONScanner.elements(of: body)
            } catch {
                throw APIError(.badRequest, "invalid_cloudevent", "a batch must be a JSON array of CloudEvents: \(Self.reason(error))")
            }
            guard !elements.isEmpty else { throw APIError(.badRequest, "invalid_cloudevent", "the batch is empty") }
            var parsed: [IncomingEvent] = []
            for (index, range) in elements.enumerated() { parsed.append(try structured(body, at: (range, index))) }
            events = parsed
        default:
            events = [try binary(fields: fields, body: body)]
        }
        for (index, event) in events.enumerated() where event.value.count > maxEventBytes {
            throw APIError(
                .contentTooLarge, "event_too_large",
                "event \(index) has \(event.value.count) bytes of data; the limit is \(maxEventBytes)")
        }
        return events
    }

    /// `type/subtype` of a Content-Type value, lowercased, without parameters.
    static func mediaType(_ value: String) -> String {
        value.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// Binary mode: `ce-*` headers (percent-decoded, as the HTTP binding says) become `ce_*`
    /// record headers, Content-Type becomes `content-type`, the body is the value.
    static func binary(fields: HTTPFields, body: [UInt8]) throws(APIError) -> IncomingEvent {
        var headers: [RecordHeader] = []
        var key: [UInt8]?
        var sawId = false
        for field in fields {
            let name = field.name.canonicalName
            guard name.hasPrefix("ce-"), name.count > 3 else { continue }
            let attribute = String(name.dropFirst(3))
            guard attribute.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }) else {
                throw APIError(
                    .badRequest, "invalid_cloudevent", "CloudEvents attribute names are lowercase a-z and 0-9: '\(name)'")
            }
            let value = percentDecoded(field.value)
            if attribute == "specversion" && value != "1.0" {
                throw APIError(.badRequest, "invalid_cloudevent", "ce-specversion must be 1.0, not '\(value)'")
            }
            if attribute == "id" { sawId = true }
            if attribute == "partitionkey" { key = Array(value.utf8) }
            headers.append(RecordHeader(key: "ce_" + attribute, value: Array(value.utf8)))
        }
        if !sawId { headers.insert(RecordHeader(key: "ce_id", value: Array(UUID().uuidString.lowercased().utf8)), at: 0) }
        if let contentType = fields[.contentType] {
            headers.append(RecordHeader(key: "content-type", value: Array(contentType.utf8)))
        }
        return IncomingEvent(key: key, value: body, headers: headers)
    }

    /// Structured mode: one JSON object (at `element` of a batch, or the whole body).
    static func structured(_ body: [UInt8], at element: (range: Range<Int>, index: Int)?) throws(APIError) -> IncomingEvent {
        let which = element.map { "event \($0.index): " } ?? ""
        func invalid(_ message: String) -> APIError {
            APIError(.badRequest, "invalid_cloudevent", which + message)
        }
        let members: [(key: String, value: Range<Int>)]
        do {
            if let element {
                guard body[element.range.lowerBound] == UInt8(ascii: "{") else { throw JSONScanner.Failure(message: "not an object") }
                members = try JSONScanner.members(of: body, in: element.range)
            } else {
                guard String(validating: body, as: UTF8.self) != nil else { throw JSONScanner.Failure(message: "invalid UTF-8") }
                members = try JSONScanner.members(of: body)
            }
        } catch {
            throw invalid("a structured CloudEvent must be a JSON object: \(Self.reason(error))")
        }
        var attributes: [(String, String)] = []
        var data: Range<Int>?
        var dataBase64: String?
        var contentType: String?
        var key: [UInt8]?
        var seen = Set<String>()
        for (name, range) in members {
            guard seen.insert(name).inserted else { throw invalid("attribute '\(name)' appears twice") }
            let raw = body[range]
            if name == "data" {
                data = range
                continue
            }
            guard let first = raw.first else { continue }
            let text: String
            switch first {
            case UInt8(ascii: "\""): text = JSONScanner.decodeString(raw)
            case UInt8(ascii: "n"): continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): throw invalid("attribute '\(name)' must be a string, number or boolean")
            default: text = String(decoding: raw, as: UTF8.self)
            }
            switch name {
            case "data_base64":
                dataBase64 = text
            case "datacontenttype":
                contentType = text
            default:
                guard !name.isEmpty, name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }) else {
                    throw invalid("CloudEvents attribute names are lowercase a-z and 0-9: '\(name)'")
                }
                if name == "partitionkey" { key = Array(text.utf8) }
                attributes.append((name, text))
            }
        }
        for required in ["specversion", "id", "source", "type"] where !attributes.contains(where: { $0.0 == required }) {
            throw invalid("the required attribute '\(required)' is missing")
        }
        if let version = attributes.first(where: { $0.0 == "specversion" })?.1, version != "1.0" {
            throw invalid("specversion must be 1.0, not '\(version)'")
        }
        if data != nil && dataBase64 != nil { throw invalid("an event has data or data_base64, not both") }
        var value: [UInt8] = []
        if let dataBase64 {
            guard let decoded = Data(base64Encoded: dataBase64) else { throw invalid("data_base64 is not valid base64") }
            value = Array(decoded)
            if contentType == nil { contentType = "application/octet-stream" }
        } else if let data {
            let raw = body[data]
            let isJSONType = contentType.map { isJSON(mediaType($0)) } ?? true
            if !isJSONType, raw.first == UInt8(ascii: "\"") {
                value = Array(JSONScanner.decodeString(raw).utf8)
            } else {
                value = Array(raw)
            }
            if contentType == nil { contentType = "application/json" }
        }
        var headers = attributes.map { RecordHeader(key: "ce_" + $0.0, value: Array($0.1.utf8)) }
        if let contentType { headers.append(RecordHeader(key: "content-type", value: Array(contentType.utf8))) }
        return IncomingEvent(key: key, value: value, headers: headers)
    }

    private static func reason(_ error: any Error) -> String {
        (error as? JSONScanner.Failure)?.message ?? "\(error)"
    }

    static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType == "text/json" || mediaType.hasSuffix("+json")
    }

    /// Undoes the HTTP binding's percent-encoding of header values (invalid sequences stay).
    static func percentDecoded(_ value: String) -> String {
        guard value.contains("%") else { return value }
        return value.removingPercentEncoding ?? value
    }
}
