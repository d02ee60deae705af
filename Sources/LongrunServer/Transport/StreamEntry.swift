import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// What every stream of one connection shares: who is on the other end, and where its calls go.
struct ConnectionContext: Sendable {
    /// The credentials as the `longrun-peer` header carries them, encoded once per connection.
    var stamp: String?
    var calls: CallQueue
    /// Where request messages still arriving are charged, and to which uid.
    var quotas: PeerQuotas?
    var uid: UInt32?
    /// The peer's open calls, on all its connections.
    var peerStreams: PeerStreams?
    /// Told of the answers the streams write (``ConnectionLifecycle/answerHanded(_:on:)``).
    var lifecycle: NIOLoopBound<ConnectionLifecycle>?
}

/// The first handler of an HTTP/2 stream's child channel: the calls ``UnaryFastPath`` takes never
/// get one (``FastPathStreams``).
///
/// A call is checked here as grpc-swift's transport checks it (content type, `:method`, `:path`,
/// compression, a method the server serves) and refused with the status grpc-swift would send; one
/// that passes gets a ``GRPCStreamCodec`` and an async wrapper behind this handler and goes to
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
        /// Refused: whatever else arrives is dropped.
        case finished
    }

    private let connection: ConnectionContext
    private var state = State.opening
    /// Counted among the peer's open calls until the stream ends.
    private var counted = false

    init(connection: ConnectionContext) {
        self.connection = connection
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if counted { connection.peerStreams?.close() }
        counted = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .opening:
            guard case .headers(let headers) = unwrapInboundIn(data) else { return }
            open(headers, context: context)
        case .forwarding:
            context.fireChannelRead(data)
        case .finished:
            break
        }
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
        do {
            try connection.peerStreams?.open()
            counted = connection.peerStreams != nil
        } catch {
            state = .finished
            let refused = RPCError(error)
            let trailers = GRPCFraming.trailers(code: refused.code.rawValue, message: refused.message, metadata: refused.metadata, trailersOnly: true)
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
            return
        }
        state = .forwarding
        var stamped = frame
        stamped.headers.remove(name: PeerIdentity.metadataKey)
        if let stamp = connection.stamp {
            stamped.headers.add(name: PeerIdentity.metadataKey, value: stamp)
        }
        do {
            let codec = GRPCStreamCodec(maximumMessageBytes: connection.calls.maximumMessageBytes, quotas: connection.quotas, uid: connection.uid,
                                        lifecycle: connection.lifecycle)
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
}
