import HubProtocol
import Logging
import NIOCore
import Synchronization

/// Authentication state of one Kafka connection.
final class KafkaSession: Sendable {
    private struct State {
        var mechanism: String?
        var principal: Principal?
    }

    private let state = Mutex(State())

    var principal: Principal? { state.withLock { $0.principal } }
    var mechanism: String? { state.withLock { $0.mechanism } }

    func handshake(_ mechanism: String) { state.withLock { $0.mechanism = mechanism } }
    func authenticated(as principal: Principal) { state.withLock { $0.principal = principal } }
}

extension KafkaAPI {
    /// The principal of the request being handled (set around each dispatch).
    @TaskLocal static var principal = Principal.anonymousAdmin

    /// Whether the current request's principal has `role` (admins have every role).
    static func may(_ role: Role) -> Bool { principal.may(role) }

    /// Whether the current principal may read or write `topic` with `role`: internal topics need
    /// the admin role.
    static func may(_ role: Role, topic: String) -> Bool {
        topic.hasPrefix("__") ? principal.may(.admin) : principal.may(role)
    }

    /// The APIs a connection may use before it has authenticated.
    static let preAuthentication: Set<Int16> = [
        ApiVersionsRequest.apiKey, SaslHandshakeRequest.apiKey, SaslAuthenticateRequest.apiKey,
    ]

    /// Who is behind a connection: everyone is an admin when authentication is off.
    func principal(of connection: KafkaConnection) -> Principal? {
        guard let keys, !keys.isEmpty else { return .anonymousAdmin }
        return connection.session.principal
    }

    /// SaslHandshake: only PLAIN (username = API key id, password = key secret).
    func saslHandshake(_ request: SaslHandshakeRequest, connection: KafkaConnection) -> SaslHandshakeResponse {
        var response = SaslHandshakeResponse()
        guard let keys, !keys.isEmpty else {
            response.errorCode = ErrorCode.illegalSaslState.rawValue
            return response
        }
        response.mechanisms = ["PLAIN"]
        if request.mechanism == "PLAIN" {
            connection.session.handshake("PLAIN")
        } else {
            response.errorCode = ErrorCode.unsupportedSaslMechanism.rawValue
        }
        return response
    }

    /// SaslAuthenticate with PLAIN: `[authzid] NUL authcid NUL password`. A failure is answered
    /// and then the connection closes.
    func saslAuthenticate(_ request: SaslAuthenticateRequest, connection: KafkaConnection) -> (SaslAuthenticateResponse, Bool) {
        var response = SaslAuthenticateResponse()
        response.authBytes = ByteBuffer()
        guard let keys, connection.session.mechanism == "PLAIN" else {
            response.errorCode = ErrorCode.illegalSaslState.rawValue
            response.errorMessage = "SaslHandshake with mechanism PLAIN must come first"
            return (response, false)
        }
        let bytes = Array(request.authBytes.readableBytesView)
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.count == 3, let principal = keys.authenticate(id: parts[1], secret: parts[2]) {
            connection.session.authenticated(as: principal)
            logger.debug("authenticated", metadata: ["key": "\(parts[1])", "remote": "\(connection.remoteAddress)"])
            return (response, true)
        }
        logger.info(
            "authentication failed",
            metadata: ["key": "\(parts.count == 3 ? parts[1] : "?")", "remote": "\(connection.remoteAddress)"])
        response.errorCode = ErrorCode.saslAuthenticationFailed.rawValue
        response.errorMessage = "authentication failed: unknown API key or wrong secret"
        return (response, false)
    }
}
