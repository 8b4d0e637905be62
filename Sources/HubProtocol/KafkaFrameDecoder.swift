import NIOCore

/// Splits the byte stream of a Kafka connection into frames (4-byte big-endian size, then that
/// many bytes), for servers (requests) and clients (responses) alike. A size above the limit, or
/// negative, fails the channel as soon as its four bytes arrive — before any of the frame is
/// buffered.
public struct KafkaFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The frame size limit (the server's `max.request.bytes`).
    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    public enum FrameError: Error, CustomStringConvertible {
        case tooLarge(Int)
        case negative(Int)
        public var description: String {
            switch self {
            case .tooLarge(let size): "request frame of \(size) bytes exceeds max.request.bytes"
            case .negative(let size): "negative request frame size \(size)"
            }
        }
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        if size < 0 { throw FrameError.negative(Int(size)) }
        if Int(size) > maxFrameBytes { throw FrameError.tooLarge(Int(size)) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
