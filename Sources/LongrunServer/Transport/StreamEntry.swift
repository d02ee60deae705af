import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// What every stream of one connection shares: who is on the other end, and where its calls go.
struct ConnectionContext: Sendable {
    var credentials: PeerCredentials?
    /// The credentials as the `longrun-peer` header carries them, encoded once per connection.
    var stamp: String?
    var fastPath: UnaryFastPath?
    var calls: CallQueue
}

/// The first and, for the calls ``UnaryFastPath`` takes, the only handler of an HTTP/2 stream.
///
/// Such a call is answered here, on the event loop: no task, no async stream. Every other call is
/// checked as grpc-swift's transport checks it (content type, `:method`, `:path`, compression, a
/// method the server serves) and refused here with the status grpc-swift would send; one that
/// passes gets a ``GRPCStreamCodec`` and an async wrapper behind this handler and goes to
/// ``CallQueue``, whose task runs it through grpc-swift's router, with any `longrun-peer` header
/// the client sent replaced by the connection's credentials.
final class StreamEntry: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        /// Before the request's headers.
        case opening
        /// A call for grpc-swift: frames go on to its codec.
        case forwarding
        /// A call the fast path takes, collecting its request body.
        case collecting(UnaryFastPath.Method, HPACKHeaders, ByteBuffer)
        /// Answered, refused, or reset by the client: whatever else arrives is dropped.
        case finished
    }

    private let connection: ConnectionContext
    private var state = State.opening
    /// A WaitOperation the fast path holds open, until it is answered or the stream closes.
    private var wait: EventLoopWait?
    /// The client reset the stream or it closed: nothing more is written to it.
    private var closed = false

    init(connection: ConnectionContext) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .opening:
            guard case .headers(let headers) = frame else { return }
            if let fastPath = connection.fastPath, let method = fastPath.method(of: headers.headers) {
                state = .collecting(method, headers.headers, context.channel.allocator.buffer(capacity: 0))
                if headers.endStream { finish(context: context) }
            } else {
                open(headers, context: context)
            }
        case .forwarding:
            context.fireChannelRead(data)
        case .collecting(let method, let headers, var body):
            switch frame {
            case .data(let data):
                guard case .byteBuffer(var bytes) = data.data, let fastPath = connection.fastPath else { return }
                // The prefix and the largest message the server accepts; more is refused unread.
                if body.readableBytes + bytes.readableBytes > fastPath.maximumRequestBytes + 5 {
                    state = .finished
                    let refused = RPCError(code: .resourceExhausted, message: "the request message is larger than \(fastPath.maximumRequestBytes) bytes")
                    write(.status(refused), context: context)
                    return
                }
                state = .finished  // no copy of the buffer while it is appended to
                body.writeBuffer(&bytes)
                state = .collecting(method, headers, body)
                if data.endStream { finish(context: context) }
            case .headers(let trailers) where trailers.endStream:
                finish(context: context)
            case .rstStream:
                state = .finished
            default:
                break
            }
        case .finished:
            if case .rstStream = frame { endWait() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endWait()
        context.fireChannelInactive()
    }

    /// The stream closed before its wait was answered: the engine's waiter goes.
    private func endWait() {
        closed = true
        wait?.cancel()
        wait = nil
    }

    // MARK: Calls for grpc-swift

    /// Refuses the call, or sets up its codec and hands it to ``CallQueue``.
    private func open(_ frame: HTTP2Frame.FramePayload.Headers, context: ChannelHandlerContext) {
        let headers = frame.headers
        let descriptor: MethodDescriptor
        switch connection.calls.route(headers) {
        case .refuse(let trailers):
            state = .finished
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
            return
        case .serve(let method):
            descriptor = method
        }
        state = .forwarding
        var stamped = frame
        stamped.headers.remove(name: PeerIdentity.metadataKey)
        if let stamp = connection.stamp {
            stamped.headers.add(name: PeerIdentity.metadataKey, value: stamp)
        }
        do {
            let codec = GRPCStreamCodec(maximumMessageBytes: connection.calls.maximumMessageBytes)
            try context.pipeline.syncOperations.addHandler(codec)
            let stream = try NIOAsyncChannel<RPCRequestPart<StreamBytes>, RPCResponsePart<StreamBytes>>(
                wrappingChannelSynchronously: context.channel
            )
            connection.calls.enqueue(.init(stream: stream, descriptor: descriptor, codec: NIOLoopBound(codec, eventLoop: context.eventLoop)))
        } catch {
            state = .finished
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(.headers(stamped)))
    }

    // MARK: Calls the fast path answers

    private func finish(context: ChannelHandlerContext) {
        guard case .collecting(let method, let headers, let body) = state, let fastPath = connection.fastPath else { return }
        state = .finished
        // A read answers before `answer` returns; a write after its commit (before `answer` returns
        // when committed here, else from the writer's thread); the frames are written on this
        // stream's event loop either way.
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((entry: self, context: context), eventLoop: eventLoop)
        let isWrite = method.isWrite
        wait = fastPath.answer(method, body: body, headers: headers, peer: connection.credentials, eventLoop: eventLoop) { answer in
            if eventLoop.inEventLoop {
                bound.value.entry.write(answer, context: bound.value.context)
                // A write answered here was committed by this loop, which answers before the
                // store's commit (its page writes) takes it: the answer leaves now, not when the
                // read ends (FlushCoalescer.FlushNow).
                if isWrite, let connection = bound.value.context.channel.parent { FlushCoalescer.flushNow(connection) }
            } else {
                eventLoop.execute { bound.value.entry.write(answer, context: bound.value.context) }
            }
        }
    }

    private func write(_ answer: UnaryFastPath.Answer, context: ChannelHandlerContext) {
        wait = nil
        guard !closed else { return }
        for frame in answer.frames(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        context.flush()
    }
}
