import Dispatcher
import Foundation
import HTTPTypes
import Hummingbird
import LogStore
import NIOCore

/// An HTTP API error: a status and the JSON body `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    /// A stable, machine-readable code (snake_case).
    var code: String
    var message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    var description: String { "\(status.code) \(code): \(message)" }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The JSON body.
    var body: [UInt8] {
        struct Envelope: Encodable {
            struct Detail: Encodable {
                var code: String
                var message: String
            }
            var error: Detail
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(Envelope(error: .init(code: code, message: message)))) ?? Data())
    }

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code, message)
    }

    static func notFound(_ message: String) -> APIError {
        APIError(.notFound, "not_found", message)
    }

    /// Maps any error thrown below the HTTP layer to a status and code.
    init(from error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as LogStoreError:
            self.init(logStore: error)
        case let error as DispatcherError:
            switch error.code {
            case .subscriptionNotFound: self.init(.notFound, error.code.name, error.message)
            case .subscriptionConflict: self.init(.conflict, error.code.name, error.message)
            case .callbackAddressRefused: self.init(.badRequest, "callback_forbidden", error.message)
            default: self.init(.badRequest, error.code.name, error.message)
            }
        case let error as HTTPError:
            switch error.status {
            case .contentTooLarge:
                self.init(.contentTooLarge, "payload_too_large", "the request body is larger than this route accepts")
            case .notFound:
                self.init(.notFound, "not_found", "no such route")
            default:
                self.init(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        case let error as DecodingError:
            self.init(.badRequest, "invalid_json", Self.describe(error))
        default:
            self.init(.internalServerError, "internal_error", "\(error)")
        }
    }

    private init(logStore error: LogStoreError) {
        let status: HTTPResponse.Status
        switch error.code {
        case .unknownTopicOrPartition: status = .notFound
        case .topicAlreadyExists, .compactionInProgress: status = .conflict
        case .invalidTopic, .invalidConfig, .invalidRecord, .corruptMessage: status = .badRequest
        case .messageTooLarge: status = .contentTooLarge
        case .offsetOutOfRange: status = .badRequest
        case .diskFull: status = .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .offline, .closed, .dataDirectoryLocked: status = .serviceUnavailable
        default: status = .internalServerError
        }
        self.init(status, error.code.name, error.message)
    }

    /// A readable account of a JSON decoding failure: which field, what was wrong.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the body" : "field '\(text.hasPrefix(".") ? String(text.dropFirst()) : text)'"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) should be \(jsonTypeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) should be \(jsonTypeName(type)), not null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "the body is not valid JSON"
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
