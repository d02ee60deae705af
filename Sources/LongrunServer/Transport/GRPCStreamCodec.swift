import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// gRPC's framing on one HTTP/2 stream whose call grpc-swift's router serves (every call
/// ``UnaryFastPath`` does not take): request headers become the call's metadata, DATA frames its
/// length-prefixed messages, and the handler's response parts become HEADERS, DATA and trailers.
/// ``StreamEntry`` has checked the request's headers before it adds this handler.
///
/// A request message over the size limit, or one the client compressed without saying how, ends
/// the call at once with its status (RESOURCE_EXHAUSTED, INTERNAL); the handler's inbound then
/// fails and whatever it still writes is dropped. A client that resets the stream cancels the
/// call (``ServerContext/RPCCancellationHandle``), as does the server's graceful shutdown, as
/// grpc-swift's own transport does. A request message that arrives in pieces is charged to the
/// peer while it does (``PendingMessage``), and the connection is told of each answer written
/// (``ConnectionLifecycle/answerHanded(_:on:)``).
final class GRPCStreamCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = RPCRequestPart<StreamBytes>
    typealias OutboundIn = RPCResponsePart<StreamBytes>
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum Response {
        /// Nothing written yet: a status goes out as trailers-only.
        case idle
        /// Headers written: messages may follow, then the trailers.
        case open
        /// Trailers written or the stream gone: every later write is refused.
        case closed
    }

    private let maximumMessageBytes: Int
    private var response = Response.idle
    /// Request bytes read but not yet a whole message.
    private var pending: ByteBuffer?
    /// What `pending` is charged to the peer while it waits for the rest of its message.
    private let held: PendingMessage
    private var metadataRead = false
    private var requestEnded = false
    /// The call's cancellation, once its task has started; a cancellation before that is kept.
    private var cancellation: ServerContext.RPCCancellationHandle?
    private var cancelled = false

    /// Told of the answers written here, and their stream.
    private let lifecycle: NIOLoopBound<ConnectionLifecycle>?
    private var streamID: HTTP2StreamID?

    init(maximumMessageBytes: Int, quotas: PeerQuotas?, uid: UInt32?, lifecycle: NIOLoopBound<ConnectionLifecycle>?) {
        self.maximumMessageBytes = maximumMessageBytes
        self.held = PendingMessage(quotas: quotas, uid: uid, maximumMessageBytes: maximumMessageBytes)
        self.lifecycle = lifecycle
    }

    /// Called on the event loop by the call's task as it starts.
    func attach(_ handle: ServerContext.RPCCancellationHandle) {
        if cancelled { handle.cancel() } else { cancellation = handle }
    }

    private func cancel() {
        cancelled = true
        cancellation?.cancel()
        cancellation = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if !metadataRead {
                metadataRead = true
                context.fireChannelRead(wrapInboundOut(.metadata(GRPCFraming.metadata(headers.headers))))
            }
            if headers.endStream { endRequest(context: context) }
        case .data(let frame):
            guard !requestEnded, case .byteBuffer(var bytes) = frame.data else { return }
            if pending == nil { pending = bytes } else { pending!.writeBuffer(&bytes) }
            readMessages(context: context)
            if frame.endStream, !requestEnded {
                if let pending, pending.readableBytes > 0 {
                    fail(RPCError(code: .internalError, message: "the request ended inside a message (\(pending.readableBytes) bytes of it)"), context: context)
                } else {
                    endRequest(context: context)
                }
            }
        case .rstStream(let code):
            response = .closed
            requestEnded = true
            pending = nil
            held.release()
            cancel()
            context.fireErrorCaught(RPCError(code: .cancelled, message: "the client reset the stream (\(code))"))
        default:
            break
        }
    }

    /// Passes on every whole message in `pending`.
    private func readMessages(context: ChannelHandlerContext) {
        while var buffer = pending, buffer.readableBytes >= 5, !requestEnded {
            let compressed = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
            let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)!)
            guard length <= maximumMessageBytes else {
                fail(RPCError(code: .resourceExhausted, message: "the request message is larger than \(maximumMessageBytes) bytes"), context: context)
                return
            }
            guard compressed == 0 else {
                fail(RPCError(code: .internalError, message: "the request message is compressed but no grpc-encoding was sent"), context: context)
                return
            }
            guard buffer.readableBytes >= 5 + length else { break }
            buffer.moveReaderIndex(forwardBy: 5)
            let message = buffer.readSlice(length: length)!
            pending = buffer.readableBytes > 0 ? buffer : nil
            held.release()
            context.fireChannelRead(wrapInboundOut(.message(StreamBytes(message))))
        }
        // The start of a message, held until the rest of it arrives.
        guard !requestEnded, var partial = pending else { return }
        pending = nil
        do {
            try held.hold(&partial, mayShareStorage: held.charged == 0, allocator: context.channel.allocator)
            pending = partial
        } catch {
            fail(RPCError(error), context: context)
        }
    }

    private func endRequest(context: ChannelHandlerContext) {
        requestEnded = true
        pending = nil
        held.release()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// Ends the call with `error`'s status, whatever its handler does next.
    private func fail(_ error: RPCError, context: ChannelHandlerContext) {
        requestEnded = true
        pending = nil
        held.release()
        if response != .closed {
            let trailers = GRPCFraming.trailers(code: error.code.rawValue, message: error.message, metadata: error.metadata, trailersOnly: response == .idle)
            response = .closed
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
        }
        cancel()
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { cancel() }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pending = nil
        held.release()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        held.release()
        if response != .closed {
            response = .closed
            cancel()
        }
        context.fireChannelInactive()
    }

    // MARK: Outbound

    func flush(context: ChannelHandlerContext) {
        context.flush()
        lifecycle?.value.answersFlushed()
    }

    /// The stream's id, read once from its child channel.
    private func streamID(_ context: ChannelHandlerContext) -> HTTP2StreamID? {
        if streamID == nil { streamID = try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID) }
        return streamID
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch (part, response) {
        case (.metadata(let metadata), .idle):
            response = .open
            context.write(wrapOutboundOut(.headers(.init(headers: GRPCFraming.responseHeaders(metadata)))), promise: promise)
        case (.message(let message), .open):
            let framed = GRPCFraming.frame(message.buffer, allocator: context.channel.allocator)
            if let lifecycle, let stream = streamID(context) { lifecycle.value.answerHanded(framed.readableBytes, on: stream) }
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(framed)))), promise: promise)
        case (.status(let status, let metadata), .idle), (.status(let status, let metadata), .open):
            let trailers = GRPCFraming.trailers(code: status.code.rawValue, message: status.message, metadata: metadata, trailersOnly: response == .idle)
            response = .closed
            context.write(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: promise)
        case (_, .closed):
            promise?.fail(RPCError(code: .cancelled, message: "the stream is closed"))
        case (.metadata, .open):
            promise?.fail(RPCError(code: .internalError, message: "response metadata was already sent"))
        case (.message, .idle):
            promise?.fail(RPCError(code: .internalError, message: "a response message before the response metadata"))
        }
    }
}
