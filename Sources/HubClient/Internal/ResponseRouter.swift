import HubProtocol
import NIOCore

/// One request on its way to the broker.
struct OutboundRequest: Sendable {
    /// The whole frame: size prefix, request header with a placeholder correlation id (the router
    /// sets the real one), body.
    var frame: ByteBuffer
    /// Completed with the response (after its correlation id); nil when none comes (acks=0).
    var response: EventLoopPromise<ByteBuffer>?
    /// How long to wait for the response.
    var timeout: TimeAmount
}

/// Assigns correlation ids to outgoing requests, matches responses to the requests waiting for
/// them, and fails requests whose timeout passes or whose connection ends. Any number of
/// requests may be in flight; writes that arrive in one event-loop tick share one flush.
///
/// Lives on the channel's event loop: all state is touched only there.
final class ResponseRouter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    /// Where the correlation id sits in a frame: after the size (4), API key (2) and version (2).
    static let correlationIdOffset = 8

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        var timer: Scheduled<Void>
    }

    private var pending: [Int32: Pending] = [:]
    private var nextCorrelationId: Int32 = 1
    private var flushScheduled = false
    /// Set once the connection has failed or closed: later requests fail with it at once.
    private var failure: HubClientError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var request = unwrapOutboundIn(data)
        if let failure {
            request.response?.fail(failure)
            promise?.fail(failure)
            return
        }
        let id = nextCorrelationId
        nextCorrelationId = id == .max ? 1 : id + 1
        request.frame.setInteger(id, at: request.frame.readerIndex + Self.correlationIdOffset)
        if let response = request.response {
            let timeout = request.timeout
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                self.timedOut(id, after: timeout)
            }
            pending[id] = Pending(promise: response, timer: timer)
        }
        context.write(wrapOutboundOut(request.frame), promise: promise)
        if !flushScheduled {
            // Flushing after the tasks already queued on the loop lets pipelined requests from many
            // callers go out in one system call.
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                context.flush()
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let id = frame.readInteger(as: Int32.self) else {
            fail(HubClientError(.malformedResponse, "a response frame is too short for a correlation id"), context)
            return
        }
        // An unknown id belongs to a request that already timed out: drop it.
        guard let entry = pending.removeValue(forKey: id) else { return }
        entry.timer.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HubClientError(.connectionClosed, "the broker closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: HubClientError
        if let frameError = error as? KafkaFrameDecoder.FrameError {
            switch frameError {
            case .tooLarge(let size):
                reason = HubClientError(
                    .malformedResponse,
                    size == 0x4854_5450  // "HTTP"
                        ? "the server answered in HTTP: this is not a Kafka-protocol port"
                        : "a response of \(size) bytes exceeds the client's maxResponseBytes: raise it or fetch less")
            case .negative(let size):
                reason = HubClientError(.malformedResponse, "negative response frame size \(size)")
            }
        } else {
            reason = HubClientError(.connectionClosed, "connection failed: \(error)")
        }
        fail(reason, context)
    }

    private func fail(_ error: HubClientError, _ context: ChannelHandlerContext) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: HubClientError) {
        if failure == nil { failure = error }
        let waiting = pending
        pending.removeAll()
        for entry in waiting.values {
            entry.timer.cancel()
            entry.promise.fail(failure ?? error)
        }
    }

    private func timedOut(_ id: Int32, after timeout: TimeAmount) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        let milliseconds = timeout.nanoseconds / 1_000_000
        entry.promise.fail(
            HubClientError(
                .timedOut,
                "no response within \(milliseconds) ms: the broker is slow or stuck "
                    + "(raise requestTimeout to wait longer)"))
    }
}
