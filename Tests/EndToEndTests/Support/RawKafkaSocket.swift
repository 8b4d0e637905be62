import Foundation
import HubProtocol
import NIOCore

/// A blocking TCP socket for sending hand-made (and malformed) Kafka frames.
final class RawKafkaSocket {
    let fd: Int32

    init(port: Int, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            done += n
        }
    }

    /// Sends a request frame: the size prefix, then `body`.
    func sendFrame(_ body: [UInt8]) {
        send(withUnsafeBytes(of: Int32(body.count).bigEndian, Array.init) + body)
    }

    /// Reads exactly `count` bytes; nil when the peer closed (or the read timed out) first.
    func receive(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, count - done, 0) }
            if n <= 0 { return nil }
            done += n
        }
        return bytes
    }

    /// Reads one response frame (without its size prefix).
    func receiveFrame() -> [UInt8]? {
        guard let size = receive(4) else { return nil }
        let length = Int(Int32(bigEndian: size.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
        return receive(length)
    }

    /// True when the server closed the connection (EOF) within the receive timeout.
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}

/// Builds request frames' bodies: header v1 (or v2 when flexible) plus a generated message.
enum RequestBytes {
    static func make<M: KafkaRequest>(_ message: M, version: Int16, correlationId: Int32) -> [UInt8] {
        var buffer = ByteBuffer()
        let header = RequestHeader(
            requestApiKey: M.apiKey, requestApiVersion: version, correlationId: correlationId, clientId: "raw-test")
        header.encode(to: &buffer, version: ApiKeys.requestHeaderVersion(apiKey: M.apiKey, apiVersion: version))
        message.encode(to: &buffer, version: version)
        return Array(buffer.readableBytesView)
    }

    /// A header with any API key and version, and no body.
    static func header(apiKey: Int16, version: Int16, correlationId: Int32) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(apiKey)
        buffer.writeInteger(version)
        buffer.writeInteger(correlationId)
        buffer.writeInteger(Int16(-1))
        return Array(buffer.readableBytesView)
    }

    static func correlationId(of response: [UInt8]) -> Int32 {
        Int32(bigEndian: response.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
    }
}

/// Runs blocking work (raw sockets) on its own thread, so it never starves the concurrency pool
/// that an in-process hub needs to answer.
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
