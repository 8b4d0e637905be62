import Hummingbird
import Logging
import NIOCore

/// Per-request state of the HTTP API: who is calling (set by ``AuthMiddleware``).
struct HubRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The caller; everything is allowed when authentication is off.
    var principal: Principal = .anonymousAdmin
    /// The peer's address, for logs.
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are read explicitly with per-route limits; this caps framework decoding.
    var maxUploadSize: Int { HTTPAPI.maxRequestBytes }

    /// Throws 403 unless the caller has `role` (or admin).
    func require(_ role: Role) throws(APIError) {
        guard principal.may(role) else {
            throw APIError(.forbidden, "forbidden", "this API key lacks the \(role.rawValue) role")
        }
    }
}
