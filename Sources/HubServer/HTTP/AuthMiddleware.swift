import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Authenticates callers when API keys are configured: `Authorization: Bearer <id>:<secret>`
/// (or `Bearer <secret>`), or Basic with the key id and secret. Missing or wrong credentials get
/// 401; a key over its rate limit gets 429 with Retry-After. `/healthz` needs no key.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    let keys: ApiKeyStore?
    let limiter: RateLimiter

    static let openPaths: Set<String> = ["/healthz"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let keys, !keys.isEmpty, !Self.openPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("missing Authorization header: send 'Bearer <key id>:<secret>'")
        }
        guard let principal = Self.authenticate(header, keys: keys) else {
            throw Self.unauthorized("the API key is not valid")
        }
        if let keyId = principal.keyId, let wait = limiter.take(key: keyId, rate: keys.rateLimit(of: keyId)) {
            let seconds = max(1, Int(wait.rounded(.up)))
            throw APIError(
                .tooManyRequests, "rate_limited", "API key '\(keyId)' is over its rate limit; retry in \(seconds) s",
                headers: [.retryAfter: "\(seconds)"])
        }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }

    /// The principal of an Authorization header value, or nil.
    static func authenticate(_ header: String, keys: ApiKeyStore) -> Principal? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let scheme = parts[0].lowercased()
        let credentials = parts[1].trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "bearer":
            if let colon = credentials.firstIndex(of: ":") {
                return keys.authenticate(
                    id: String(credentials[..<colon]), secret: String(credentials[credentials.index(after: colon)...]))
            }
            return keys.authenticate(secret: credentials)
        case "basic":
            guard let data = Data(base64Encoded: credentials), let text = String(data: data, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            else { return nil }
            return keys.authenticate(id: String(text[..<colon]), secret: String(text[text.index(after: colon)...]))
        default:
            return nil
        }
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, "unauthorized", message, headers: [.wwwAuthenticate: "Bearer realm=\"hooklog\""])
    }
}
