import HubProtocol
import Logging
import NIOCore
import Synchronization

/// What processing one request produced.
enum KafkaReply: Sendable {
    /// A response: header and body, without the size prefix.
    case response(ByteBuffer)
    /// No response (a Produce with acks=0).
    case none
    /// A protocol violation: close the connection after earlier responses.
    case close(reason: String)
    /// Answer, then close (a failed SASL authentication).
    case respondThenClose(ByteBuffer, reason: String)
}

/// Turns one request frame into a reply.
protocol KafkaRequestProcessor: Sendable {
    /// - Parameter sequence: the request's position on its connection (0, 1, 2, …), for
    ///   `connection.ordering`.
    func process(_ frame: ByteBuffer, connection: KafkaConnection, sequence: Int) async -> KafkaReply
}

/// Per-connection facts and state the request processor may use.
struct KafkaConnection: Sendable {
    var remoteAddress: String
    /// Keeps appends in the order their requests arrived.
    let ordering = RequestOrderGate()
    /// SASL state.
    let session = KafkaSession()
    /// Requests in flight here and on the connection's event loop.
    var activity: ConnectionActivity
}

/// Runs requests of one connection concurrently (up to a limit) while writing their responses
/// strictly in request order. Reading pauses while the limit is reached, which bounds the
/// connection's memory together with the frame-size limit.
final class KafkaConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let processor: any KafkaRequestProcessor
    private let maxInFlight: Int
    private let logger: Logger
    private var connection: KafkaConnection
    private var nextSequence = 0
    private var nextToWrite = 0
    private var ready: [Int: KafkaReply] = [:]
    private var inFlight = 0
    private var readPending = false
    private var closing = false

    /// - Parameter loop: the activity of the connection's event loop.
    init(processor: any KafkaRequestProcessor, maxInFlight: Int, loop: LoopActivity, logger: Logger) {
        self.processor = processor
        self.maxInFlight = maxInFlight
        self.logger = logger
        connection = KafkaConnection(remoteAddress: "?", activity: ConnectionActivity(loop: loop))
    }

    func channelActive(context: ChannelHandlerContext) {
        connection.remoteAddress = context.remoteAddress.map { "\($0)" } ?? "?"
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        let sequence = nextSequence
        nextSequence += 1
        inFlight += 1
        connection.activity.requestsInFlight.add(1, ordering: .relaxed)
        let processor = self.processor
        let connection = self.connection
        let promise = context.eventLoop.makePromise(of: KafkaReply.self)
        if frame.getInteger(at: frame.readerIndex, as: Int16.self) == ProduceRequest.apiKey {
            // On this event loop: see EventLoopTaskExecutor.
            let loop = connection.activity.loop
            loop.producesWaiting.add(1, ordering: .relaxed)
            Task(executorPreference: loop.executor) {
                loop.producesWaiting.subtract(1, ordering: .relaxed)
                promise.succeed(await processor.process(frame, connection: connection, sequence: sequence))
            }
        } else {
            promise.completeWithTask { await processor.process(frame, connection: connection, sequence: sequence) }
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { reply in
            let (handler, context) = bound.value
            handler.completed(sequence, reply, context: context)
        }
    }

    private func completed(_ sequence: Int, _ reply: KafkaReply, context: ChannelHandlerContext) {
        inFlight -= 1
        connection.activity.requestsInFlight.subtract(1, ordering: .relaxed)
        ready[sequence] = reply
        var wrote = false
        while let reply = ready.removeValue(forKey: nextToWrite) {
            nextToWrite += 1
            switch reply {
            case .response(let body):
                writeFrame(body, context: context)
                wrote = true
            case .none:
                continue
            case .respondThenClose(let body, let reason):
                writeFrame(body, context: context)
                logger.info("closing Kafka connection", metadata: ["remote": "\(connection.remoteAddress)", "reason": "\(reason)"])
                closing = true
                ready.removeAll()
                context.flush()
                context.close(promise: nil)
                return
            case .close(let reason):
                logger.info(
                    "closing Kafka connection", metadata: ["remote": "\(connection.remoteAddress)", "reason": "\(reason)"])
                closing = true
                ready.removeAll()
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in }
                context.close(promise: nil)
                return
            }
        }
        if wrote { context.flush() }
        if closing && inFlight == 0 {
            context.close(promise: nil)
            return
        }
        if readPending && inFlight < maxInFlight {
            readPending = false
            context.read()
        }
    }

    /// Writes one response frame: the size prefix, then the body (not flushed).
    private func writeFrame(_ body: ByteBuffer, context: ChannelHandlerContext) {
        var frame = context.channel.allocator.buffer(capacity: 4)
        frame.writeInteger(Int32(body.readableBytes))
        context.write(wrapOutboundOut(frame), promise: nil)
        context.write(wrapOutboundOut(body), promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if closing { return }
        if inFlight >= maxInFlight {
            readPending = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("Kafka connection error", metadata: ["remote": "\(connection.remoteAddress)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Asks a connection to finish: no further requests are read; it closes once every request
    /// already read has been answered.
    struct Drain: Sendable {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Drain {
            closing = true
            if inFlight == 0 { context.close(promise: nil) }
            return
        }
        if event is IdleStateHandler.IdleStateEvent {
            logger.debug("closing idle Kafka connection", metadata: ["remote": "\(connection.remoteAddress)"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
