import HubProtocol
import NIOCore

/// Frames requests, hands them to the channel's ``ResponseRouter`` and decodes the responses.
struct Connection: Sendable {
    let channel: any Channel
    let clientId: String
    let requestTimeout: TimeAmount
    /// Runs tasks on the channel's event loop (see ``HubClient/taskExecutor``).
    let executor: EventLoopTaskExecutor

    init(channel: any Channel, clientId: String, requestTimeout: TimeAmount) {
        self.channel = channel
        self.clientId = clientId
        self.requestTimeout = requestTimeout
        self.executor = EventLoopTaskExecutor(channel.eventLoop)
    }

    /// Sends `request` at `version` and decodes the response.
    func send<Request: KafkaRequest>(
        _ request: Request, version: Int16, extraTimeout: Duration = .zero, sizeHint: Int = 256
    ) async throws -> Request.Response {
        var body = try await exchange(request, version: version, extraTimeout: extraTimeout, sizeHint: sizeHint)
        return try decode(Request.Response.self, from: &body, version: version)
    }

    /// Sends `request` at `version` and returns once it is written (for requests that get no
    /// response: Produce with acks=0).
    func sendWithoutResponse<Request: KafkaRequest>(_ request: Request, version: Int16, sizeHint: Int) async throws {
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.write(
            OutboundRequest(frame: frame(request, version: version, sizeHint: sizeHint), response: nil, timeout: .zero),
            promise: written)
        do {
            try await written.futureResult.get()
        } catch let error as HubClientError {
            throw error
        } catch {
            throw HubClientError(.connectionClosed, "cannot send the request: \(error)")
        }
    }

    /// Sends `request` at `version`; returns the response body (after the response header).
    func exchange<Request: KafkaRequest>(
        _ request: Request, version: Int16, extraTimeout: Duration = .zero, sizeHint: Int = 256
    ) async throws -> ByteBuffer {
        let response = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        // A write that never reaches the router (the channel is already closed) fails the response.
        written.futureResult.whenFailure { error in
            response.fail(
                error as? HubClientError ?? HubClientError(.connectionClosed, "cannot send the request: \(error)"))
        }
        channel.write(
            OutboundRequest(
                frame: frame(request, version: version, sizeHint: sizeHint), response: response,
                timeout: requestTimeout + TimeAmount(extraTimeout)),
            promise: written)
        var body: ByteBuffer
        do {
            body = try await withTaskCancellationHandler {
                try await response.futureResult.get()
            } onCancel: {
                response.fail(CancellationError())
            }
        } catch let error as HubClientError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw HubClientError(.connectionClosed, "request failed: \(error)")
        }
        if ApiKeys.responseHeaderVersion(apiKey: Request.apiKey, apiVersion: version) >= 1 {
            do {
                _ = try body.readKafkaTaggedFields()
            } catch {
                throw HubClientError(.malformedResponse, "response header: \(error.message)")
            }
        }
        return body
    }

    /// Decodes a response body, mapping protocol errors.
    func decode<Response: KafkaResponse>(_ type: Response.Type, from body: inout ByteBuffer, version: Int16) throws
        -> Response
    {
        do {
            return try Response(from: &body, version: version)
        } catch {
            let name = ApiKeys(rawValue: Response.apiKey)?.name ?? "API \(Response.apiKey)"
            throw HubClientError(.malformedResponse, "\(name) v\(version) response: \(error.message)")
        }
    }

    /// The whole request frame: size, header (correlation id set later by the router), body.
    func frame<Request: KafkaRequest>(_ request: Request, version: Int16, sizeHint: Int) -> ByteBuffer {
        var buffer = channel.allocator.buffer(capacity: sizeHint + 64 + clientId.utf8.count)
        buffer.writeInteger(Int32(0))
        let header = RequestHeader(
            requestApiKey: Request.apiKey, requestApiVersion: version, correlationId: 0, clientId: clientId)
        header.encode(to: &buffer, version: ApiKeys.requestHeaderVersion(apiKey: Request.apiKey, apiVersion: version))
        request.encode(to: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    /// ApiVersions at v3, or at v0 when the broker answers v3 with UNSUPPORTED_VERSION (KIP-511:
    /// that answer comes in v0 format). Returns the broker's version range per API key.
    func apiVersions() async throws -> [Int16: ClosedRange<Int16>] {
        var request = ApiVersionsRequest()
        request.clientSoftwareName = "hooklog-swift"
        request.clientSoftwareVersion = "0.1.0"
        var response: ApiVersionsResponse
        var body = try await exchange(request, version: 3)
        if body.getInteger(at: body.readerIndex, as: Int16.self) == ErrorCode.unsupportedVersion.rawValue {
            var fallback = try await exchange(request, version: 0)
            response = try decode(ApiVersionsResponse.self, from: &fallback, version: 0)
        } else {
            response = try decode(ApiVersionsResponse.self, from: &body, version: 3)
        }
        guard response.errorCode == 0 else {
            throw HubClientError.broker(ErrorCode(rawValue: response.errorCode), "ApiVersions")
        }
        var versions: [Int16: ClosedRange<Int16>] = [:]
        for api in response.apiKeys where api.minVersion <= api.maxVersion {
            versions[api.apiKey] = api.minVersion...api.maxVersion
        }
        return versions
    }
}
