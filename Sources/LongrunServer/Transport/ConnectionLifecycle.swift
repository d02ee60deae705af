import Logging
import NIOCore
import NIOExtras
import NIOHTTP2

/// Ends one HTTP/2 connection gracefully when the server shuts down: on `ChannelShouldQuiesceEvent`
/// (from the listener's `ServerQuiescingHelper`) it sends GOAWAY (NO_ERROR) naming the last stream
/// the server took, so the client opens no more and retries any it had in flight beyond it, lets
/// the open streams finish (grpc-swift's router ends their calls), and closes the connection when
/// the last one has closed. It counts the streams from NIOHTTP2's stream events, so it sits next to
/// `NIOHTTP2Handler`, before any handler that keeps a stream's events to itself
/// (``FastPathStreams``).
///
/// It also ends a connection swift-nio-http2 ended for an error: that handler sends GOAWAY with the
/// error's code (it tells this handler of each frame it writes, as `NIOHTTP2Handler`'s frame
/// delegate) but leaves the connection open, where RFC 9113 (5.4.1) says to close it; a peer that
/// broke the protocol held its descriptor until it hung up itself. It says so in a warning, at most
/// once a minute for all connections (``ReportEveryMinute``): the client's calls on it failed, and
/// its operator will ask why. And it logs, at debug, every error the connection reports (protocol
/// errors answered with GOAWAY or RST_STREAM, the socket's own), which nothing else did.
///
/// And it keeps the connection's ``AnswerBacklog``: the handlers that write answers say what DATA
/// they hand on (``answerHanded(_:on:)``) and when they have flushed it (``answersFlushed()``);
/// `NIOHTTP2Handler` says what it writes out. After a flush the uid is charged for what is still
/// held, and the connection that takes its uid past its limit is closed, with a warning that names
/// the peer. (Told by the writers rather than by a look at every frame written on its way to
/// `NIOHTTP2Handler`: that look cost GetOperation 5% more server CPU.)
final class ConnectionLifecycle: ChannelInboundHandler, RemovableChannelHandler, NIOHTTP2FrameDelegate {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let logger: Logger
    /// When to warn of connections ended for breaking the protocol: one for all connections.
    private let protocolErrors: ReportEveryMinute
    private let peer: PeerCredentials?
    private var openStreams = 0
    private var lastStream = HTTP2StreamID.rootStream
    private var quiescing = false
    private var closing = false
    /// Set when `NIOHTTP2Handler` wrote a GOAWAY with an error code.
    private var endedForError = false
    private var context: ChannelHandlerContext?
    /// Answers written and not yet let out; nil: not counted (a server without quotas).
    private var backlog: AnswerBacklog?

    init(logger: Logger, peer: PeerCredentials?, backlog: AnswerBacklog?, protocolErrors: ReportEveryMinute) {
        self.logger = logger
        self.protocolErrors = protocolErrors
        self.peer = peer
        self.backlog = backlog
    }

    func wroteFrame(_ frame: HTTP2Frame) {
        switch frame.payload {
        case .data(let data):
            if (backlog?.total ?? 0) > 0, case .byteBuffer(let bytes) = data.data { backlog!.wrote(bytes.readableBytes, on: frame.streamID) }
        case .goAway(_, let code, _) where code != .noError:
            endedForError = true
        default:
            break
        }
    }

    /// A handler wrote a DATA frame of `bytes` of an answer on `stream`, not yet flushed.
    func answerHanded(_ bytes: Int, on stream: HTTP2StreamID) {
        if backlog != nil { backlog!.handed(bytes, on: stream) }
    }

    /// A handler flushed the answers it wrote: what `NIOHTTP2Handler` could not write out is what
    /// the peer's windows hold back.
    func answersFlushed() {
        guard backlog != nil, let unread = backlog!.settle(), !closing, let context else { return }
        closing = true
        logger.closingForUnreadAnswers(peer: peer, connectionBytes: backlog!.total, uidBytes: unread, limit: backlog!.limit)
        // Not from inside the write that flushed.
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        backlog?.releaseAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("error on a client connection", metadata: [
            "error": "\(error)", "error_type": "\(type(of: error))", "peer": "\(peer.map(String.init(describing:)) ?? "unknown")",
            "closing": "\(endedForError)",
        ])
        if endedForError, !closing {
            closing = true
            if let closed = protocolErrors.record() {
                logger.warning("closed a client connection that broke HTTP/2 (sent GOAWAY with the error); its client's calls on it failed", metadata: [
                    "error": "\(error)", "peer": "\(peer.map(String.init(describing:)) ?? "unknown")",
                    "closed_since_last_message": "\(closed)",
                ])
            }
            // After the read that raised it, whose end flushes the GOAWAY.
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.close(promise: nil) }
        }
        context.fireErrorCaught(error)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        backlog?.releaseAll()
    }

    private func streamCreated(_ id: HTTP2StreamID) {
        openStreams += 1
        if id > lastStream { lastStream = id }
    }

    private func streamClosed() {
        openStreams -= 1
        guard quiescing, openStreams == 0, let context else { return }
        // Not from inside NIOHTTP2's own processing of the frame that closed the stream.
        let bound = NIOLoopBound((lifecycle: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.lifecycle.close(context: bound.value.context) }
    }

    /// Every event of the connection passes here, several per call: the type is compared before any
    /// cast (a failed `as?` from `Any` costs more).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch ObjectIdentifier(type(of: event)) {
        case ObjectIdentifier(NIOHTTP2StreamCreatedEvent.self):
            if let created = event as? NIOHTTP2StreamCreatedEvent { streamCreated(created.streamID) }
        case ObjectIdentifier(StreamClosedEvent.self):
            if (backlog?.total ?? 0) > 0, let closed = event as? StreamClosedEvent { backlog!.closed(closed.streamID) }
            streamClosed()
        case ObjectIdentifier(ChannelShouldQuiesceEvent.self) where !quiescing:
            quiescing = true
            if openStreams == 0 {
                close(context: context)
            } else {
                context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    private var goAway: HTTP2Frame {
        HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStream, errorCode: .noError, opaqueData: nil))
    }

    /// Sends the final GOAWAY and closes once it (and every frame before it) is written.
    private func close(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(goAway), promise: promise)
        promise.futureResult.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
