public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The opt-in HTTP endpoint Prometheus scrapes: `GET /metrics` answers the exposition, any other
/// path 404, any other method 405. Bound by ``bind(_:metrics:logger:)`` so that a taken address
/// fails the daemon's start with a clear message; served until graceful shutdown, as a `Service`.
public final class MetricsListener: Service, Sendable {
    public let address: MetricsAddress
    /// The address actually bound (the chosen port when the address asked for port 0).
    public let boundAddress: MetricsAddress
    private let channel: any Channel
    private let logger: Logger
    private let open: OpenConnections

    private init(address: MetricsAddress, boundAddress: MetricsAddress, channel: any Channel, logger: Logger, open: OpenConnections) {
        self.address = address
        self.boundAddress = boundAddress
        self.channel = channel
        self.logger = logger
        self.open = open
    }

    /// The connections open now, refused ones until they close included.
    var openConnections: Int { open.count.load(ordering: .relaxed) }

    /// What the endpoint lets its clients hold. It may listen where anyone can connect, and every
    /// connection holds a file descriptor of the daemon's, which its gRPC clients need too: without
    /// a cap, a user with no access to the daemon's socket could take them all from 127.0.0.1.
    struct ConnectionLimits: Sendable {
        /// Connections served at once (Prometheus keeps one per scraper). As many more are each
        /// answered 503 and closed; past those, a connection is closed unanswered.
        var connections = 64
        /// A connection that sends nothing for this long (between requests, in one, or while its
        /// answers wait for it to read them) is closed.
        var idleTimeout = TimeAmount.seconds(120)
    }

    /// Binds `address` now; throws a ``MetricsListenerError`` that says what is wrong (in use, not
    /// an address of this machine, not permitted). A stale Unix socket is replaced, a live one refused.
    public static func bind(_ address: MetricsAddress, metrics: LongrunMetrics, logger: Logger) async throws -> MetricsListener {
        try await bind(address, metrics: metrics, logger: logger, limits: ConnectionLimits())
    }

    static func bind(_ address: MetricsAddress, metrics: LongrunMetrics, logger: Logger, limits: ConnectionLimits) async throws -> MetricsListener {
        let open = OpenConnections()
        let bootstrap = HTTPServerChannel.bootstrap { channel in
            let count = open.count.add(1, ordering: .relaxed).newValue
            channel.closeFuture.whenComplete { _ in open.count.subtract(1, ordering: .relaxed) }
            let sync = channel.pipeline.syncOperations
            guard count <= 2 * limits.connections else {
                try sync.addHandler(CloseWhenActive())
                return
            }
            let refusal = count > limits.connections ? limits.connections : nil
            // In front of the codec, so that any bytes at all count as activity.
            // A refused one has only the moment its refusal takes, as on the daemon's own sockets.
            try sync.addHandler(IdleStateHandler(readTimeout: refusal == nil ? limits.idleTimeout : ConnectionGate.refusalLinger), position: .first)
            try sync.addHandler(MetricsHTTPHandler(metrics: metrics, refusingPast: refusal))
        }
        let channel: any Channel
        do {
            switch address {
            case .tcp(let host, let port):
                channel = try await bootstrap.bind(host: host, port: port).get()
            case .unix(let path):
                try checkUnixPath(path)
                channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            }
        } catch let error as StartupError {
            throw error
        } catch {
            throw MetricsListenerError(address: address, underlying: error)
        }
        var bound = address
        if case .tcp(let host, _) = address, let port = channel.localAddress?.port { bound = .tcp(host: host, port: port) }
        logger.notice("serving metrics", metadata: ["metrics": "http://\(bound)/metrics"])
        return MetricsListener(address: address, boundAddress: bound, channel: channel, logger: logger, open: open)
    }

    /// A live socket (another daemon's endpoint) or a file that is not a socket is refused; a
    /// stale socket is replaced by the bind.
    private static func checkUnixPath(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError("\(path) exists and is not a socket; remove it or choose another --metrics-listen")
        }
        if UnixListener.isLive(path) {
            throw StartupError("something is serving on \(path) already; stop it or choose another --metrics-listen")
        }
    }

    /// Serves until graceful shutdown or cancellation, then closes the socket (and removes a Unix one).
    public func run() async throws {
        await HTTPServerChannel.serve(channel)
        removeSocketFile()
    }

    /// Closes the socket without serving: for a daemon whose start failed after binding.
    public func close() async {
        try? await channel.close()
        removeSocketFile()
    }

    private func removeSocketFile() {
        if case .unix(let path) = address { unlink(path) }
    }
}

/// Why the metrics endpoint could not listen, worded for the operator.
public struct MetricsListenerError: Error, CustomStringConvertible {
    public let address: MetricsAddress
    public let underlying: any Error

    public var description: String {
        let errno = (underlying as? IOError)?.errnoCode
        let why: String = switch errno {
        case EADDRINUSE: "the address is in use (another longrund or exporter listens there); choose another --metrics-listen"
        case EADDRNOTAVAIL: "it is not an address of this machine"
        case EACCES: "permission denied (ports below 1024 need privileges; a socket's directory must be writable)"
        case ENOENT: "the socket's directory does not exist"
        default: "\(underlying)"
        }
        return "cannot serve metrics on \(address): \(why)"
    }
}

/// The endpoint's connections open now, counted as they are accepted and closed.
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Answers one request at a time on a connection, keeping it open when the client asks to, until it
/// has been idle for the endpoint's timeout (an `IdleStateHandler` in front of the codec says when). A
/// pipelined request is answered once the response before it has left for the socket: NIOHTTP1
/// hands the next one on as soon as a response is written, and an endpoint that may listen on a
/// network would otherwise hold every answer for a client that pipelines scrapes and reads none.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: LongrunMetrics
    /// Set on a connection past the endpoint's limit (its value): its first request is answered 503
    /// and the connection closed.
    private let refusingPast: Int?
    private var request: HTTPRequestHead?
    /// Responses written and not all taken by the socket yet. Counted before each is written:
    /// NIOHTTP1 hands on the next pipelined request from inside that write.
    private var writesInFlight = 0
    /// The request that waits for them.
    private var next: HTTPRequestHead?

    init(metrics: LongrunMetrics, refusingPast: Int? = nil) {
        self.metrics = metrics
        self.refusingPast = refusingPast
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)  // a scrape's answer leaves in far less
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            if writesInFlight > 0 {
                next = head
            } else {
                respond(to: head, context: context)
            }
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        let body: [UInt8]
        var keepAlive = head.isKeepAlive
        if let limit = refusingPast {
            status = .serviceUnavailable
            body = Array("the metrics endpoint serves \(limit) connections at once and has them; close one (Prometheus needs one per scraper) and retry\n".utf8)
            keepAlive = false
        } else if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET, HEAD")
            body = Array("only GET /metrics is served\n".utf8)
        } else if path != "/metrics" {
            status = .notFound
            body = Array("not found: metrics are at /metrics\n".utf8)
        } else {
            status = .ok
            body = metrics.exposition()
        }
        headers.add(name: "Content-Type", value: status == .ok ? LongrunMetrics.contentType : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        writesInFlight += 1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        written.assumeIsolated().whenComplete { [self] result in
            writesInFlight -= 1
            guard case .success = result, writesInFlight == 0, let head = next else { return }
            next = nil
            // In a later turn of the loop: no recursion through writes that complete at once.
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.handler.respond(to: head, context: bound.value.context) }
        }
    }
}
