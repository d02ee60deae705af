import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The calls ``UnaryFastPath`` answers, taken from a connection's HTTP/2 frames before the stream
/// multiplexer sees them: such a stream gets no child channel, no pipeline and no handler of its
/// own, only an entry here until it closes.
///
/// Sits between `NIOHTTP2Handler` and `HTTP2StreamMultiplexer`. A stream whose request headers
/// name a method the fast path answers is kept here: its body is collected, the call answered
/// (``UnaryFastPath/answer(_:body:headers:peer:eventLoop:reply:)``) and its frames written on the
/// connection; every other stream's frames and events, and the connection's events, go on to the
/// multiplexer, whose child channel (``StreamEntry``) serves the call through grpc-swift's router.
/// A child channel, its pipeline and their activation cost about a third of bare HTTP/2's CPU per
/// call (BENCHMARKS.md, "The transport's floor"), and most of a waiting call's memory.
///
/// What a child channel did for the stream is done here: the stream's inbound window is given back
/// as its body is read (the connection's is the multiplexer's, from NIOHTTP2's window events,
/// which count these streams' bytes too); a reset or a closed connection ends the stream's wait;
/// nothing is written to a stream once it has closed. And what ``GRPCStreamCodec`` does for its
/// stream: a request message that arrives in pieces is charged to the peer while it does
/// (``PendingMessage``), and the connection is told of each answer written (``ConnectionLifecycle``).
final class FastPathStreams: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// One stream taken here, from its request headers until it closes.
    private final class Stream {
        enum State {
            /// Collecting the request body.
            case collecting(UnaryFastPath.Method, HPACKHeaders, ByteBuffer)
            /// Answered, refused, or waiting for its answer: whatever else arrives is dropped.
            case finished
            /// Refused before it was counted among the peer's open calls (``PeerStreams``): as
            /// `finished`, and not counted when it ends.
            case uncounted
        }

        var state: State
        /// A WaitOperation the fast path holds open, until it is answered or the stream closes.
        var wait: EventLoopWait?
        /// Request bytes read since the stream's window was last given back.
        var unacknowledged = 0
        /// The request message while it arrives in pieces, charged to the peer.
        var pending: PendingMessage?

        init(state: State) {
            self.state = state
        }
    }

    private let fastPath: UnaryFastPath
    private let credentials: PeerCredentials?
    /// Told of the answers written here (``ConnectionLifecycle/answerHanded(_:on:)``).
    private let lifecycle: ConnectionLifecycle?
    /// The peer's open calls, on all its connections.
    private let peerStreams: PeerStreams?
    private var streams: [HTTP2StreamID: Stream] = [:]
    /// The highest stream the client opened: a HEADERS frame above it opens a new stream, any
    /// other is a later block (trailers) of one already open.
    private var highestStream = HTTP2StreamID.rootStream

    /// The inbound window a stream starts with (the server's SETTINGS): half of it read is given
    /// back, as NIOHTTP2's child channels do.
    private let streamWindow: Int

    init(fastPath: UnaryFastPath, credentials: PeerCredentials?, streamWindow: Int, lifecycle: ConnectionLifecycle?, peerStreams: PeerStreams?) {
        self.fastPath = fastPath
        self.credentials = credentials
        self.lifecycle = lifecycle
        self.peerStreams = peerStreams
        self.streamWindow = streamWindow
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        endAll()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        if let stream = streams[id] {
            read(frame.payload, of: stream, id: id, context: context)
            return
        }
        guard id > highestStream, case .headers(let headers) = frame.payload else {
            context.fireChannelRead(data)
            return
        }
        highestStream = id
        guard let method = fastPath.method(of: headers.headers) else {
            context.fireChannelRead(data)
            return
        }
        let refused: RPCError?
        do {
            try peerStreams?.open()
            refused = nil
        } catch {
            refused = RPCError(error)
        }
        // A refused stream is kept here too, its frames dropped, until it closes.
        let stream = Stream(state: refused == nil ? .collecting(method, headers.headers, context.channel.allocator.buffer(capacity: 0)) : .uncounted)
        streams[id] = stream
        if let refused {
            write(.status(refused), to: id, context: context)
        } else if headers.endStream {
            finish(stream, id: id, context: context)
        }
    }

    private func read(_ payload: HTTP2Frame.FramePayload, of stream: Stream, id: HTTP2StreamID, context: ChannelHandlerContext) {
        switch payload {
        case .data(let data):
            guard case .collecting(let method, let headers, var body) = stream.state, case .byteBuffer(var bytes) = data.data else { return }
            // The prefix and the largest message the server accepts, sent or announced; more is
            // refused unread.
            let limit = fastPath.maximumRequestBytes + 5
            guard body.readableBytes + bytes.readableBytes <= limit else {
                refuse(stream, oversized, id: id, context: context)
                return
            }
            let flowControlled = bytes.readableBytes + (data.paddingBytes.map { $0 + 1 } ?? 0)
            stream.state = .finished  // no copy of the buffer while it is appended to
            body.writeBuffer(&bytes)
            guard PendingMessage.declaredBytes(body).map({ $0 <= limit }) ?? true else {
                refuse(stream, oversized, id: id, context: context)
                return
            }
            if data.endStream {
                stream.state = .collecting(method, headers, body)
                finish(stream, id: id, context: context)
                return
            }
            do {
                if stream.pending == nil {
                    stream.pending = PendingMessage(quotas: fastPath.quotas, uid: credentials?.uid, maximumMessageBytes: fastPath.maximumRequestBytes)
                }
                try stream.pending!.hold(&body, mayShareStorage: false, allocator: context.channel.allocator)
            } catch {
                refuse(stream, RPCError(error), id: id, context: context)
                return
            }
            stream.state = .collecting(method, headers, body)
            giveBack(flowControlled, of: stream, id: id, context: context)
        case .headers(let trailers) where trailers.endStream:
            finish(stream, id: id, context: context)
        case .rstStream:
            end(id)
        default:
            break
        }
    }

    /// Gives the stream's window back once half of it has been read, so that a body larger than
    /// the window keeps coming; `bytes` is what one DATA frame took of it (padding included).
    private func giveBack(_ bytes: Int, of stream: Stream, id: HTTP2StreamID, context: ChannelHandlerContext) {
        stream.unacknowledged += bytes
        guard stream.unacknowledged >= streamWindow / 2 else { return }
        let increment = stream.unacknowledged
        stream.unacknowledged = 0
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment))), promise: nil)
    }

    /// NIOHTTP2's events about a stream taken here end here: the multiplexer has no channel for it
    /// and would only look it up among its own. The connection's events, and every other stream's,
    /// go on. The event's type is compared before any cast: a failed `as?` from `Any` costs more.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch ObjectIdentifier(type(of: event)) {
        case ObjectIdentifier(StreamClosedEvent.self):
            if let closed = event as? StreamClosedEvent, streams[closed.streamID] != nil {
                end(closed.streamID)
                return
            }
        case ObjectIdentifier(NIOHTTP2WindowUpdatedEvent.self):
            if let updated = event as? NIOHTTP2WindowUpdatedEvent, streams[updated.streamID] != nil { return }
        case ObjectIdentifier(NIOHTTP2StreamCreatedEvent.self):
            if let created = event as? NIOHTTP2StreamCreatedEvent, streams[created.streamID] != nil { return }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        endAll()
        context.fireChannelInactive()
    }

    private var oversized: RPCError {
        RPCError(code: .resourceExhausted, message: "the request message is larger than \(fastPath.maximumRequestBytes) bytes")
    }

    /// Ends the call with `error`'s status before its request was whole.
    private func refuse(_ stream: Stream, _ error: RPCError, id: HTTP2StreamID, context: ChannelHandlerContext) {
        stream.state = .finished
        stream.pending?.release()
        write(.status(error), to: id, context: context)
    }

    /// The stream closed (reset by the client, or both ends done): its wait, if any, ends and
    /// nothing more is written to it.
    private func end(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if case .uncounted = stream.state {} else { peerStreams?.close() }
        stream.pending?.release()
        stream.wait?.cancel()
    }

    private func endAll() {
        for id in Array(streams.keys) { end(id) }
    }

    // MARK: Answers

    private func finish(_ stream: Stream, id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard case .collecting(let method, let headers, let body) = stream.state else { return }
        stream.state = .finished
        stream.pending?.release()
        // A read answers before `answer` returns; a write after its commit (before `answer` returns
        // when committed here, else from the writer's thread); the frames are written on this
        // connection's event loop either way.
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: eventLoop)
        let isWrite = method.isWrite
        let wait = fastPath.answer(method, body: body, headers: headers, peer: credentials, eventLoop: eventLoop) { answer in
            if eventLoop.inEventLoop {
                bound.value.handler.answer(answer, to: id, context: bound.value.context)
                // A write answered here was committed by this loop, which answers before the
                // store's commit (its page writes) takes it: the answer leaves now, not when the
                // read ends (FlushCoalescer.FlushNow).
                if isWrite { FlushCoalescer.flushNow(bound.value.context.channel) }
            } else {
                eventLoop.execute { bound.value.handler.answer(answer, to: id, context: bound.value.context) }
            }
        }
        // Unless the stream closed meanwhile (then its wait, if any, was answered).
        if streams[id] === stream { stream.wait = wait }
    }

    private func answer(_ answer: UnaryFastPath.Answer, to id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let stream = streams[id] else { return }
        stream.wait = nil
        write(answer, to: id, context: context)
    }

    private func write(_ answer: UnaryFastPath.Answer, to id: HTTP2StreamID, context: ChannelHandlerContext) {
        for payload in answer.frames(allocator: context.channel.allocator) {
            if case .data(let data) = payload, case .byteBuffer(let bytes) = data.data {
                lifecycle?.answerHanded(bytes.readableBytes, on: id)
            }
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: payload)), promise: nil)
        }
        context.flush()
        lifecycle?.answersFlushed()
    }
}
