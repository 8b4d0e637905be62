import AsyncHTTPClient
import Foundation
import LogStore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What one delivery attempt's HTTP exchange came to.
struct AttemptResponse: Sendable {
    /// The status, or nil when no response came (connection failure, timeout, refused address).
    var status: Int?
    /// The Retry-After header, if any.
    var retryAfter: String?
    /// Why it failed, for the attempt record (a status line with the start of the body, or the
    /// connection error).
    var error: String?
    var duration: Duration
}

/// Sends webhook requests: pooled keep-alive HTTP/1.1 connections, connect timeout 5 s, total
/// 30 s, no redirects, response bodies read up to a small cap, and the SSRF guard applied at
/// connect time: a host name is resolved, every address checked, and the connection made to a
/// checked address (async-http-client's DNS override keeps the Host header and TLS server name),
/// so a name that later resolves to a refused range is never called. Lookups are reused for
/// ``resolutionTTL``.
final class CallbackClient: Sendable {
    struct Settings: Sendable {
        var connectTimeout: Duration = .seconds(5)
        var totalTimeout: Duration = .seconds(30)
        /// Connections per origin: at least the per-origin concurrency limit.
        var connectionsPerOrigin = 64
        var responseBodyCap = 4096
        var resolutionTTL: Duration = .seconds(30)
    }

    private struct Resolved {
        var client: HTTPClient
        var address: IPAddress
        var at: ContinuousClock.Instant
    }

    private let settings: Settings
    private let callbackGuard: CallbackGuard
    private let resolver: any HostResolver
    /// For literal-address URLs (nothing to resolve).
    private let direct: HTTPClient
    /// One client per host name, pinned to its checked address.
    private let pinned = Mutex<[String: Resolved]>([:])
    private let retired = Mutex<[HTTPClient]>([])
    /// Names that recently failed to resolve, and why: attempts fail fast for a few seconds
    /// instead of queueing more lookups.
    private let unresolved = Mutex<[String: (error: String, at: ContinuousClock.Instant)]>([:])
    private let logger: Logger

    init(settings: Settings, callbackGuard: CallbackGuard, resolver: any HostResolver, logger: Logger) {
        self.settings = settings
        self.callbackGuard = callbackGuard
        self.resolver = resolver
        self.logger = logger
        direct = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: Self.configuration(settings, pin: nil))
    }

    private static func configuration(_ settings: Settings, pin: (host: String, address: String)?) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(settings.connectTimeout.nanoseconds), read: .nanoseconds(settings.totalTimeout.nanoseconds)),
            connectionPool: .init(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.connectionsPerOrigin),
            decompression: .disabled)
        // A refused or timed-out connection fails the attempt now; the retry schedule decides
        // when to try again (the client's own reconnect loop would hold the slot until the deadline).
        configuration.connectionPool.retryConnectionEstablishment = false
        if let pin { configuration.dnsOverride = [pin.host: pin.address] }
        return configuration
    }

    /// POSTs `body` to `url` with `headers`.
    func post(url: CallbackURL, headers: HTTPHeaders, body: [UInt8]) async -> AttemptResponse {
        let started = ContinuousClock.now
        func failure(_ message: String) -> AttemptResponse {
            AttemptResponse(status: nil, retryAfter: nil, error: message, duration: ContinuousClock.now - started)
        }
        let client: HTTPClient
        do {
            client = try await self.client(for: url)
        } catch {
            return failure("\(error)")
        }
        var request = HTTPClientRequest(url: url.description)
        request.method = .POST
        request.headers = headers
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(settings.totalTimeout.nanoseconds))
            var collected: [UInt8] = []
            for try await chunk in response.body {
                collected += chunk.readableBytesView.prefix(settings.responseBodyCap - collected.count)
                if collected.count >= settings.responseBodyCap { break }
            }
            let status = Int(response.status.code)
            var error: String?
            if !(200..<300).contains(status) {
                let text = String(decoding: collected.prefix(512), as: UTF8.self)
                error = "HTTP \(status)" + (text.isEmpty ? "" : ": \(text)")
            }
            return AttemptResponse(
                status: status, retryAfter: response.headers.first(name: "retry-after"), error: error,
                duration: ContinuousClock.now - started)
        } catch {
            return failure(Self.describe(error))
        }
    }

    /// The client to use for `url`: the direct one for checked literal addresses, else one
    /// pinned to a freshly checked address of the host name.
    private func client(for url: CallbackURL) async throws -> HTTPClient {
        if let address = url.literalAddress {
            if let reason = callbackGuard.refusalReason(for: address) {
                throw DispatcherError(.callbackAddressRefused, "refused at connect time: \(reason)")
            }
            return direct
        }
        let now = ContinuousClock.now
        if let cached = pinned.withLock({ $0[url.host] }), now - cached.at < settings.resolutionTTL {
            return cached.client
        }
        if let failed = unresolved.withLock({ $0[url.host] }), now - failed.at < .seconds(5) {
            throw DispatcherError(.hostNotResolved, failed.error)
        }
        let addresses: [IPAddress]
        do {
            let resolver = self.resolver
            let host = url.host
            guard let found = try await withDeadline(settings.connectTimeout, { try await resolver.addresses(of: host) })
            else {
                throw DispatcherError(.hostNotResolved, "no answer within \(settings.connectTimeout)")
            }
            addresses = found
        } catch {
            let message = "cannot resolve \(url.host): \(error)"
            unresolved.withLock { $0[url.host] = (message, ContinuousClock.now) }
            throw DispatcherError(.hostNotResolved, message)
        }
        unresolved.withLock { _ = $0.removeValue(forKey: url.host) }
        guard let first = addresses.first else {
            throw DispatcherError(.hostNotResolved, "\(url.host) has no addresses")
        }
        for address in addresses {
            if let reason = callbackGuard.refusalReason(for: address) {
                throw DispatcherError(.callbackAddressRefused, "refused at connect time: \(url.host) resolves to \(reason)")
            }
        }
        let address = first.unmapped
        let previous = pinned.withLock { $0[url.host] }
        if let previous, previous.address == address {
            pinned.withLock { $0[url.host]?.at = now }
            return previous.client
        }
        let client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: Self.configuration(settings, pin: (url.host, address.description)))
        pinned.withLock { $0[url.host] = Resolved(client: client, address: address, at: now) }
        if let previous {
            // In-flight requests on the old client finish; it is shut down with the others.
            retired.withLock { $0.append(previous.client) }
        }
        return client
    }

    /// Closes every connection.
    func shutdown() async {
        let clients = pinned.withLock { $0.values.map(\.client) } + retired.withLock { $0 } + [direct]
        for client in clients { try? await client.shutdown() }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return "timed out"
            case .connectTimeout: return "connect timed out"
            case .remoteConnectionClosed: return "the connection was closed by the receiver"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}
