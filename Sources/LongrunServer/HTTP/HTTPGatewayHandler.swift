import GRPCProtobuf
import NIOCore
import NIOHTTP1

/// One connection of the HTTP gateway: gathers each request (a body up to the gateway's limit),
/// answers it through ``HTTPGateway/respond(to:)`` off the event loop, and writes the response
/// back on it. NIOHTTP1's pipelining handler holds the next request until this one is answered,
/// so responses go out in order. Keeps the connection open when the client asks to (HTTP/1.1's
/// default) until it has been idle for the gateway's idle timeout (an ``IdleStateHandler`` in front
/// of the codec says when), and closes it after an oversized body, whose rest would otherwise be
/// read as requests.
///
/// A pipelined request is answered only once the response before it has left for the socket:
/// NIOHTTP1 hands on the next request as soon as a response is written, not sent, and a client
/// that pipelined 3,000 GETs of a 1 MB operation and read nothing had the daemon hold 3.8 GB. A
/// response the socket cannot take at once is charged to the peer's uid as an answer not read
/// (``PeerQuotas/addUnread(_:uid:)``); past the uid's limit the connection is closed.
final class HTTPGatewayHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let gateway: HTTPGateway
    private let peer: PeerCredentials?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    /// After a 413: the rest of this request is dropped, and the connection closes.
    private var discarding = false
    /// A request is being answered: the connection is not idle, however long the answer takes.
    private var answering = false
    /// Responses written and not all taken by the socket yet. Counted before each is written:
    /// NIOHTTP1 hands on the next pipelined request from inside that write.
    private var writesInFlight = 0
    /// The next request, answered once the socket has taken the responses before it.
    private var next: (() -> Void)?
    private let quotas: PeerQuotas?
    /// A connection past its uid's limit (``ConnectionGate``): its first request is answered with
    /// this, and the connection closed.
    private let refusal: GoogleRPCStatus?

    init(gateway: HTTPGateway, peer: PeerCredentials?, quotas: PeerQuotas?, refusal: GoogleRPCStatus? = nil) {
        self.gateway = gateway
        self.peer = peer
        self.quotas = quotas
        self.refusal = refusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard !discarding else { return }
            if let refusal {
                discarding = true
                Self.write(gateway.refusal(head, refusal, peer: peer), version: head.version, keepAlive: false, context: context)
                return
            }
            self.head = head
            body = nil
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > gateway.maximumBodyBytes {
                refuseBody(context: context)
            }
        case .body(var chunk):
            guard !discarding, head != nil else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > gateway.maximumBodyBytes {
                refuseBody(context: context)
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard !discarding, let head else { return }
            self.head = nil
            let request = HTTPGateway.Request(head: head, body: body ?? context.channel.allocator.buffer(capacity: 0), peer: peer)
            body = nil
            answering = true
            let (handler, bound) = (NIOLoopBound(self, eventLoop: context.eventLoop), NIOLoopBound(context, eventLoop: context.eventLoop))
            let gateway = gateway
            if writesInFlight > 0 {
                next = { Self.answer(request, gateway: gateway, handler: handler, context: bound) }
            } else {
                Self.answer(request, gateway: gateway, handler: handler, context: bound)
            }
        }
    }

    /// Closes a connection that stayed idle (no request, none being answered) for the timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            if !answering && head == nil { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Answers off the event loop (the engine's calls are async), then writes on it.
    private static func answer(_ request: HTTPGateway.Request, gateway: HTTPGateway, handler: NIOLoopBound<HTTPGatewayHandler>,
                               context: NIOLoopBound<ChannelHandlerContext>) {
        Task {
            let response = await gateway.respond(to: request)
            context.eventLoop.execute {
                handler.value.answering = false
                handler.value.send(response, version: request.head.version, keepAlive: request.head.isKeepAlive, context: context.value)
            }
        }
    }

    private func refuseBody(context: ChannelHandlerContext) {
        guard let head else { return }
        discarding = true
        self.head = nil
        body = nil
        Self.write(gateway.bodyTooLarge(head, peer: peer), version: head.version, keepAlive: false, context: context)
    }

    /// Writes `response`; the next request is answered once the socket has taken it, and what the
    /// socket did not take at once is charged to the uid until it does.
    private func send(_ response: HTTPGateway.Response, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        writesInFlight += 1
        let written = Self.write(response, version: version, keepAlive: keepAlive, context: context)
        var completed = false
        var charged = 0
        written.assumeIsolated().whenComplete { [self] _ in
            completed = true
            writesInFlight -= 1
            if charged > 0 { _ = quotas?.addUnread(-charged, uid: peer?.uid) }
            // The next answer starts a task of its own: no recursion through completed writes.
            guard writesInFlight == 0, let answer = next else { return }
            next = nil
            answer()
        }
        guard !completed, let quotas, let bytes = pendingBytes(context), bytes > 0 else { return }
        charged = bytes
        let unread = quotas.addUnread(bytes, uid: peer?.uid)
        guard unread > quotas.limits.bufferedBytes else { return }
        gateway.logger.closingForUnreadAnswers(peer: peer, connectionBytes: bytes, uidBytes: unread, limit: quotas.limits.bufferedBytes)
        context.close(promise: nil)
    }

    /// What the connection holds of the responses written and not yet taken by the socket.
    private func pendingBytes(_ context: ChannelHandlerContext) -> Int? {
        guard let options = context.channel.syncOptions, let bytes = try? options.getOption(ChannelOptions.bufferedWritableBytes) else { return nil }
        return Int(bytes)
    }

    @discardableResult
    private static func write(_ response: HTTPGateway.Response, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        var headers = response.headers
        let bytes = context.channel.allocator.buffer(string: response.body)
        headers.replaceOrAdd(name: "Content-Length", value: String(bytes.readableBytes))
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes))), promise: nil)
        let written = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        return written
    }
}
