public import GRPCCore
import Logging
import LongrunDomain
import NIOCore
import NIOExtras
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Synchronization

/// The daemon's gRPC server transport: HTTP/2 on its listening Unix socket, written on
/// swift-nio-http2's channel handlers, serving grpc-swift's `GRPCServer`.
///
/// grpc-swift's own transport gives every stream an async wrapper and a task, even one whose call
/// is over in a few microseconds; for a GetOperation read from LMDB that was most of the call's
/// server CPU (issue 12). Here the calls ``UnaryFastPath`` takes are read from the connection's
/// HTTP/2 frames and answered there (``FastPathStreams``), on the event loop or from the writer's
/// commit: no child channel, pipeline or task. Every other stream gets a child channel whose first
/// handler (``StreamEntry``) reads its request headers; the call then gets gRPC's framing
/// (``GRPCStreamCodec``), an async wrapper and a task, and is served by grpc-swift's router with
/// the same interceptors, deadlines (`grpc-timeout`) and statuses as before. Each connection's
/// `SO_PEERCRED` is read once, on accept.
///
/// Compression is not offered (the Unix socket is local; grpc-swift's transport had it off too): a
/// request that asks for it is refused UNIMPLEMENTED with `grpc-accept-encoding: identity`. The
/// server sends no keepalive pings (a peer that dies closes its socket; the kernel says so) and
/// answers the client's. On graceful shutdown the listener closes, every connection gets GOAWAY,
/// open calls finish, and ``listen(streamHandler:)`` returns when the last connection has closed.
public final class UnixServerTransport: ServerTransport {
    public typealias Bytes = StreamBytes

    struct Configuration: Sendable {
        /// The bound, listening socket (``UnixListener`` or the service manager's).
        var listeningSocket: Int32
        /// The service manager passed `listeningSocket` (``UnixListener/restoreBacklog(of:inherited:)``).
        var inherited = false
        var policy: AccessPolicy
        /// Largest request message accepted, on both paths.
        var maximumRequestBytes: Int
        /// Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS): a
        /// client opens more as others end. Not swift-nio-http2's 100 when unset: that limit
        /// is not advertised, so a client that takes no limit for granted (grpc-core) had its
        /// connection refused (GOAWAY, PROTOCOL_ERROR) at its 101st open call.
        var maximumConcurrentStreams = 16_384
        var fastPath: UnaryFastPath? = nil
        /// What each uid may hold (request messages still arriving, answers not read, open calls),
        /// on both paths; nil: no caps (the benchmarks' no-op server).
        var quotas: PeerQuotas? = nil
        /// Where the listening socket's accept errors (``AcceptErrors``) and, at debug, client
        /// connections' errors (``ConnectionLifecycle``) are told.
        var logger = Logger(label: "longrun.transport")
    }

    private let configuration: Configuration
    private let group = MultiThreadedEventLoopGroup.singleton
    private let quiescing: ServerQuiescingHelper
    private let methods = Mutex<[String: MethodDescriptor]>([:])
    /// Succeeded once the socket accepts, failed if it cannot; ``listening`` waits for it.
    private let bound: EventLoopPromise<Void>
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var boundResolved = false
        var shutdownBegun = false
        /// Ends the task group's loop once every connection has closed.
        var calls: AsyncStream<CallQueue.Call>.Continuation?
    }

    init(configuration: Configuration) {
        self.configuration = configuration
        quiescing = ServerQuiescingHelper(group: group)
        bound = group.any().makePromise(of: Void.self)
    }

    /// A transport on a new socket at `path` (mode 0600), every call served by grpc-swift's router
    /// (no ``UnaryFastPath``): the benchmarks' no-op server on the daemon's own transport.
    public static func bind(path: String, maximumRequestBytes: Int = 4 << 20) throws -> UnixServerTransport {
        let socket = try UnixListener.bind(path: path, mode: 0o600)
        return UnixServerTransport(configuration: .init(listeningSocket: socket, policy: AccessPolicy(), maximumRequestBytes: maximumRequestBytes))
    }

    deinit {
        resolveBound(.failure(CancellationError()))
    }

    /// Returns once the server accepts connections; throws if it never will.
    public var listening: Void {
        get async throws { try await bound.futureResult.get() }
    }

    private func resolveBound(_ result: Result<Void, any Error>) {
        let first = lifecycle.withLock { state in
            defer { state.boundResolved = true }
            return !state.boundResolved
        }
        if first { bound.completeWith(result) }
    }

    public func configure(context: GRPCServerContext) {
        let byPath = Dictionary(context.methods.map { ("/" + $0.fullyQualifiedMethod, $0) }, uniquingKeysWith: { first, _ in first })
        methods.withLock { $0 = byPath }
    }

    public func listen(
        streamHandler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
    ) async throws {
        let (calls, continuation) = AsyncStream.makeStream(of: CallQueue.Call.self)
        let alreadyStopped = lifecycle.withLock { state in
            state.calls = continuation
            return state.shutdownBegun
        }
        guard !alreadyStopped else {
            resolveBound(.failure(CancellationError()))
            return
        }
        let queue = CallQueue(methods: methods.withLock { $0 }, maximumMessageBytes: configuration.maximumRequestBytes, continuation: continuation)
        let (policy, fastPath, quotas, quiescing) = (configuration.policy, configuration.fastPath, configuration.quotas, quiescing)
        let (maximumStreams, logger) = (configuration.maximumConcurrentStreams, configuration.logger)
        let protocolErrors = ReportEveryMinute()
        do {
            _ = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: UnixListener.backlog)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AcceptErrors(logger: logger))
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(connection: channel, policy: policy, maximumStreams: maximumStreams, fastPath: fastPath, quotas: quotas,
                                           calls: queue, logger: logger, protocolErrors: protocolErrors)
                    }
                }
                .withBoundSocket(configuration.listeningSocket)
                .get()
            UnixListener.restoreBacklog(of: configuration.listeningSocket, inherited: configuration.inherited)
        } catch {
            continuation.finish()
            resolveBound(.failure(error))
            throw error
        }
        resolveBound(.success(()))
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { tasks in
                for await call in calls {
                    tasks.addTask { await Self.serve(call, handler: streamHandler) }
                }
            }
        } onCancel: {
            self.beginGracefulShutdown()
        }
        // Cancelled before every connection closed: a call that arrives from here on is reset.
        continuation.finish()
    }

    public func beginGracefulShutdown() {
        let calls: AsyncStream<CallQueue.Call>.Continuation?? = lifecycle.withLock { state in
            guard !state.shutdownBegun else { return .none }
            state.shutdownBegun = true
            return .some(state.calls)
        }
        guard case .some(let continuation) = calls else { return }
        let drained = group.any().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: drained)
        drained.futureResult.whenComplete { _ in continuation?.finish() }
    }

    /// One accepted connection: its credentials and its count among its uid's connections (past
    /// the uid's limit, its calls are refused: ``ConnectionGate``); HTTP/2, with the calls
    /// ``UnaryFastPath`` answers taken from its frames (``FastPathStreams``) and a child channel
    /// with a ``StreamEntry`` first for every other stream; and its graceful end
    /// (``ConnectionLifecycle``). Runs on the connection's event loop.
    private static func configure(connection channel: any Channel, policy: AccessPolicy, maximumStreams: Int, fastPath: UnaryFastPath?,
                                  quotas: PeerQuotas?, calls: CallQueue, logger: Logger, protocolErrors: ReportEveryMinute) throws {
        let credentials = PeerIdentity.credentials(of: channel, policy: policy)
        switch try ConnectionGate.admit(channel, peer: credentials, quotas: quotas, logger: logger) {
        case .serve:
            break
        case .refuse(let error):
            try refuse(connection: channel, with: error, peer: credentials, logger: logger, protocolErrors: protocolErrors)
            return
        case .closed:
            return
        }
        let lifecycle = ConnectionLifecycle(logger: logger, peer: credentials, backlog: quotas.map { AnswerBacklog(quotas: $0, uid: credentials?.uid) },
                                            protocolErrors: protocolErrors)
        let peerStreams = quotas?.streams(of: credentials?.uid)
        let shared = ConnectionContext(stamp: credentials.map(PeerIdentity.encode), calls: calls, quotas: quotas, uid: credentials?.uid,
                                       peerStreams: peerStreams, lifecycle: NIOLoopBound(lifecycle, eventLoop: channel.eventLoop))
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        // A client may cancel every call it may hold (RST_STREAM) every 30 s: swift-nio-http2's
        // guard against reset floods allows 200 per connection, and past them ends the connection
        // (GOAWAY, ENHANCE_YOUR_CALM) with every call still open on it: a client that cancelled
        // 500 waits in a second lost the 50 it kept open, UNAVAILABLE.
        var streamConfiguration = NIOHTTP2Handler.StreamConfiguration()
        streamConfiguration.streamResetFrameRateLimit.maximumCount = maximumStreams
        streamConfiguration.streamResetFrameRateLimit.windowLength = .seconds(30)
        try sync.addHandler(NIOHTTP2Handler(mode: .server, frameDelegate: lifecycle, connectionConfiguration: connectionConfiguration(maximumStreams: maximumStreams),
                                            streamConfiguration: streamConfiguration))
        try sync.addHandler(lifecycle)
        if let fastPath {
            try sync.addHandler(FastPathStreams(fastPath: fastPath, credentials: credentials, streamWindow: streamWindow, lifecycle: lifecycle,
                                                 peerStreams: peerStreams))
        }
        try sync.addHandler(HTTP2StreamMultiplexer(mode: .server, channel: channel, targetWindowSize: streamWindow) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(StreamEntry(connection: shared))
            }
        })
    }

    /// A connection past its uid's limit: HTTP/2 and nothing else but its end, each call answered
    /// with `error` (``RefusedCalls``).
    private static func refuse(connection channel: any Channel, with error: DomainError, peer: PeerCredentials?, logger: Logger,
                               protocolErrors: ReportEveryMinute) throws {
        let lifecycle = ConnectionLifecycle(logger: logger, peer: peer, backlog: nil, protocolErrors: protocolErrors)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(NIOHTTP2Handler(mode: .server, frameDelegate: lifecycle, connectionConfiguration: connectionConfiguration(maximumStreams: 100)))
        try sync.addHandler(lifecycle)
        try sync.addHandler(RefusedCalls(error))
    }

    /// gRPC's usual HTTP/2 settings (grpc-swift's transport sends the same): 64 KiB windows,
    /// 16 KiB frames; and the concurrent streams stated (swift-nio-http2 enforces 100 unless told
    /// otherwise, and a client only knows a limit it was sent).
    private static func connectionConfiguration(maximumStreams: Int) -> NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maximumStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
        return configuration
    }

    /// The inbound window of the connection and of each stream.
    private static let streamWindow = 65_535

    /// Runs one call through grpc-swift's router on its own task, as grpc-swift's transport does.
    private static func serve(
        _ call: CallQueue.Call,
        handler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
    ) async {
        try? await call.stream.executeThenClose { inbound, outbound in
            await withServerContextRPCCancellationHandle { handle in
                let codec = call.codec
                call.stream.channel.eventLoop.execute { codec.value.attach(handle) }
                let stream = RPCStream(
                    descriptor: call.descriptor,
                    inbound: RPCAsyncSequence(wrapping: inbound),
                    outbound: RPCWriter.Closable(wrapping: CallOutbound(writer: outbound, channel: call.stream.channel))
                )
                let context = ServerContext(descriptor: call.descriptor, remotePeer: "unix:", localPeer: "unix:", cancellation: handle)
                await handler(stream, context)
            }
            // The status is written; wait for the stream to close rather than let `executeThenClose`
            // reset it with frames still buffered. A cancelled task (the server's shutdown ran out of
            // time) resets it: a client that never ends its side cannot hold the task.
            let channel = call.stream.channel
            try await withTaskCancellationHandler {
                try await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        }
    }
}

/// A call's response writer: the async wrapper's, and a stream reset when the handler fails it.
private struct CallOutbound: ClosableRPCWriterProtocol {
    typealias Element = RPCResponsePart<StreamBytes>

    let writer: NIOAsyncChannelOutboundWriter<Element>
    let channel: any Channel

    func write(_ element: Element) async throws {
        try await writer.write(element)
    }

    func write(contentsOf elements: some Sequence<Element>) async throws {
        try await writer.write(contentsOf: elements)
    }

    func finish() async {
        writer.finish()
    }

    func finish(throwing error: any Error) async {
        channel.close(promise: nil)
    }
}
