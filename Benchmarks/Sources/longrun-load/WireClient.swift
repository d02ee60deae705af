import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import SwiftProtobuf

/// gRPC calls written straight on swift-nio-http2: one handler takes every stream's frames on the
/// connection, on its event loop, with no gRPC library, no child channel and no task per call. Each
/// message and each call's end is stamped with the time it was read off the socket, before anything
/// else in this process handles it. W7 `--wait-client wire` uses it, so that what it reports is
/// when the daemon's answers reach the client's socket, not when a client process of 10,000 waiting
/// tasks, on the cores it shares with the daemon, gets round to the one an answer is for.
///
/// Enough gRPC for that and no more: no deadlines, compression or size limits; a call that ends
/// without `grpc-status` (a reset stream, a closed connection) ends with a nil status.
final class WireConnection: Sendable {
    let channel: any Channel
    private let calls: NIOLoopBound<WireCalls>

    private init(channel: any Channel, calls: NIOLoopBound<WireCalls>) {
        self.channel = channel
        self.calls = calls
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    /// A connection to the Unix socket at `path`, its preface and settings sent.
    static func connect(to path: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> WireConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Stream windows wide enough that no answer waits for one (the connection's
                    // is opened as wide when the channel becomes active).
                    let settings = [HTTP2Setting(parameter: .initialWindowSize, value: WireCalls.window)]
                    try channel.pipeline.syncOperations.addHandlers([NIOHTTP2Handler(mode: .client, initialSettings: settings), WireCalls()])
                }
            }
            .connect(unixDomainSocketPath: path)
            .get()
        let calls = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: WireCalls.self), eventLoop: channel.eventLoop)
        }.get()
        return WireConnection(channel: channel, calls: calls)
    }

    /// Starts a call to `path` (`/package.Service/Method`) with `request` as its only message and
    /// the request's end; `ended` is called once, on ``eventLoop``, with the call's end and its
    /// answer's bytes (decoding them is the caller's).
    func unary(_ path: String, _ request: some Message, ended: @escaping @Sendable (WireCalls.End) -> Void) throws {
        let bytes = try WireCalls.framed(request)
        let calls = self.calls
        eventLoop.execute {
            calls.value.start(path, first: bytes, endingRequest: true, message: nil, ended: ended)
        }
    }

    /// A unary call's end, with its answer.
    func unary(_ path: String, _ request: some Message) async throws -> WireCalls.End {
        let promise = eventLoop.makePromise(of: WireCalls.End.self)
        try unary(path, request) { promise.succeed($0) }
        return try await promise.futureResult.get()
    }

    /// Opens a stream to `path` without sending a message; `body` runs on ``eventLoop`` with a
    /// ``WireCalls/Stream`` to write on. Each message of its answer reaches `message`, its end
    /// `ended`, both on ``eventLoop``.
    func stream(_ path: String, message: @escaping @Sendable (WireCalls.Received) -> Void, ended: @escaping @Sendable (WireCalls.End) -> Void,
                _ body: @escaping @Sendable (WireCalls.Stream) -> Void) {
        let calls = self.calls
        eventLoop.execute {
            let id = calls.value.start(path, first: nil, endingRequest: false, message: message, ended: ended)
            body(WireCalls.Stream(id: id, calls: calls.value))
        }
    }

    func close() async {
        try? await channel.close().get()
    }
}

/// Every call's frames on one connection (``WireConnection``), kept by stream id; used on its
/// event loop only.
final class WireCalls: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// One message of an answer, as it was read.
    struct Received {
        var bytes: [UInt8]
        var at: ContinuousClock.Instant
    }

    /// How a call ended: its `grpc-status` (nil if it had none) and `grpc-message`, when its
    /// trailers were read, and the last message of its answer (a unary call's answer) unless
    /// `message` took each as it came.
    struct End: Sendable {
        var status: Int?
        var message: String?
        var at: ContinuousClock.Instant
        var answer: [UInt8]? = nil
    }

    /// A stream opened by ``WireConnection/stream(_:message:ended:_:)``, to write on from its
    /// event loop.
    struct Stream {
        let id: HTTP2StreamID
        let calls: WireCalls

        /// Writes `request` as one message, and the request's end if `end`; flushed if `flush`.
        func send(_ request: some Message, end: Bool = false, flush: Bool = true) throws {
            calls.send(try WireCalls.framed(request), on: id, end: end, flush: flush)
        }

        func finish() { calls.send(nil, on: id, end: true, flush: true) }
    }

    func flush() { context?.flush() }

    private struct Call {
        var pending: ByteBuffer?
        var last: [UInt8]?
        var message: ((Received) -> Void)?
        var ended: (End) -> Void
    }

    /// The stream window this client announces, and the connection's, which it opens as wide.
    static let window = 1 << 30

    private var calls: [HTTP2StreamID: Call] = [:]
    private var nextStreamID: Int32 = 1
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        let increment = Self.window - 65_535
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment))), promise: nil)
        context.fireChannelActive()
    }

    /// A gRPC message: the 5-byte prefix (not compressed, the length) and `message`'s bytes.
    static func framed(_ message: some Message) throws -> ByteBuffer {
        let bytes: [UInt8] = try message.serializedBytes()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(5 + bytes.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    @discardableResult
    func start(_ path: String, first: ByteBuffer?, endingRequest: Bool, message: ((Received) -> Void)?,
               ended: @escaping (End) -> Void) -> HTTP2StreamID {
        let id = HTTP2StreamID(nextStreamID)
        nextStreamID += 2
        guard let context else {
            ended(End(status: nil, message: "the connection is closed", at: .now))
            return id
        }
        calls[id] = Call(message: message, ended: ended)
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "localhost",
            "content-type": "application/grpc", "te": "trailers",
        ]
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: first == nil && endingRequest)))),
                      promise: nil)
        if let first {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(first), endStream: endingRequest)))),
                          promise: nil)
        }
        context.flush()
        return id
    }

    func send(_ message: ByteBuffer?, on id: HTTP2StreamID, end: Bool, flush: Bool) {
        guard let context, calls[id] != nil else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(message ?? ByteBuffer()), endStream: end)))),
                      promise: nil)
        if flush { context.flush() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = ContinuousClock.now
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            // The answer's headers, or its trailers (alone when the call failed at once).
            guard headers.endStream else { return }
            let status = headers.headers.first(name: "grpc-status").flatMap { Int($0) }
            end(frame.streamID, End(status: status, message: headers.headers.first(name: "grpc-message"), at: now))
        case .data(let data):
            let id = frame.streamID
            guard calls[id] != nil else { return }
            if case .byteBuffer(var bytes) = data.data {
                // Taken out while it is read, so that appending to it copies nothing.
                var pending = calls[id]!.pending.take() ?? ByteBuffer()
                pending.writeBuffer(&bytes)
                var messages: [[UInt8]] = []
                while let length = pending.getInteger(at: pending.readerIndex + 1, as: UInt32.self), pending.readableBytes >= 5 + Int(length) {
                    pending.moveReaderIndex(forwardBy: 5)
                    messages.append(pending.readBytes(length: Int(length))!)
                }
                if pending.readableBytes > 0 { calls[id]!.pending = pending }
                // The callbacks may write on this stream: its call stays filed meanwhile.
                if let message = calls[id]!.message {
                    for bytes in messages { message(Received(bytes: bytes, at: now)) }
                } else if let last = messages.last {
                    calls[id]!.last = last
                }
            }
            if data.endStream { end(id, End(status: nil, message: "the answer ended without trailers", at: now)) }
        case .rstStream(let code):
            end(frame.streamID, End(status: nil, message: "the stream was reset: \(code)", at: now))
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let now = ContinuousClock.now
        for id in Array(calls.keys) { end(id, End(status: nil, message: "the connection closed", at: now)) }
        context.fireChannelInactive()
    }

    private func end(_ id: HTTP2StreamID, _ end: End) {
        guard let call = calls.removeValue(forKey: id) else { return }
        var end = end
        end.answer = call.last
        call.ended(end)
    }
}
