import NIOCore

extension ApiKeys {
    /// The request header version a request of `apiKey` at `apiVersion` uses: 2 when that request
    /// version is flexible, else 1. Unknown API keys get 1, whose client id is still readable.
    ///
    /// (Header version 0, used only by ControlledShutdown v0, is not handled.)
    public static func requestHeaderVersion(apiKey: Int16, apiVersion: Int16) -> Int16 {
        guard let api = ApiKeys(rawValue: apiKey), let first = api.requestFirstFlexibleVersion else { return 1 }
        return apiVersion >= first ? 2 : 1
    }

    /// The response header version of a response of `apiKey` at `apiVersion`: 1 when that
    /// response version is flexible, else 0 — except ApiVersions, whose response header is always
    /// version 0 so that a client can read it whichever version the broker answers with.
    public static func responseHeaderVersion(apiKey: Int16, apiVersion: Int16) -> Int16 {
        guard let api = ApiKeys(rawValue: apiKey), api != .apiVersions, let first = api.responseFirstFlexibleVersion
        else { return 0 }
        return apiVersion >= first ? 1 : 0
    }
}

extension RequestHeader {
    /// Decodes a request header from the start of a request frame, choosing the header version
    /// from the API key and version that open it (see `ApiKeys.requestHeaderVersion`). The
    /// buffer is left at the start of the request body.
    /// - Throws: `ProtocolError` when the header is malformed.
    public init(from buffer: inout ByteBuffer) throws(ProtocolError) {
        guard let apiKey = buffer.getInteger(at: buffer.readerIndex, as: Int16.self),
            let apiVersion = buffer.getInteger(at: buffer.readerIndex + 2, as: Int16.self)
        else {
            throw .truncated("request header", needed: 4, remaining: buffer.readableBytes)
        }
        let version = ApiKeys.requestHeaderVersion(apiKey: apiKey, apiVersion: apiVersion)
        try self.init(from: &buffer, version: version)
    }
}
