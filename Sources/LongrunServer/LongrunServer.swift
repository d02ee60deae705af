import GRPCCore
import GRPCProtobuf
public import Logging
import LongrunDefaults
public import LongrunEngine
import LongrunProto
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#endif

/// The daemon's gRPC front: every service on one Unix socket, run as a `Service`; and, when
/// configured, the Operations API over HTTP/JSON on a second socket (``HTTPGateway``).
///
/// On graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`) it stops accepting calls,
/// lets the writer commit what is queued, wakes waiters and watchers, and closes the store.
public struct LongrunServer: Service {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// Who may connect: the socket's permission bits. Default 0660 (owner and group).
        public var socketMode: mode_t = 0o660
        /// The socket's group, if not the daemon's own: with mode 0660, its members may connect.
        public var socketGroup: gid_t?
        /// Who may do what once connected (admin group, owner-only reads).
        public var access = AccessPolicy()
        /// Most WaitOperation calls one uid may have open at once.
        public var maximumWaitsPerPeer = 16_384
        /// Most WatchOperations streams one uid may have open at once.
        public var maximumWatchesPerPeer = 256
        /// Most connections one uid may have open at once, to the gRPC and HTTP sockets together.
        /// Each holds memory until it closes (25–30 KB idle); past the limit, each call on a new
        /// connection is refused RESOURCE_EXHAUSTED (`TOO_MANY_CONNECTIONS`) and it is closed.
        public var maximumConnectionsPerPeer = 1_024
        /// Longest a WaitOperation holds a call when neither its timeout nor its deadline is shorter.
        public var maximumWait: Duration = .seconds(3600)
        /// Largest request message accepted.
        public var maximumRequestBytes = 4 << 20
        /// Most bytes held for one uid at once, counted apart for request messages still arriving
        /// (each at the size its prefix announces; a message past it is refused RESOURCE_EXHAUSTED),
        /// for writes waiting for their commits (a write past it is refused the same way), and for
        /// answers its peer has not read (past it, the connection that took it there is closed).
        /// At least `maximumRequestBytes` + 5.
        public var maximumBufferedBytesPerPeer = 256 << 20
        /// How often a health Watch looks at the polled conditions (phase changes arrive at once).
        public var healthPollInterval: Duration = .milliseconds(250)
        /// A listening socket the service manager opened (socket activation): served instead of
        /// binding `socketPath`, and left in place at exit (it is the manager's).
        public var inheritedSocket: Int32?
        /// Where to report readiness, shutdown and liveness (`NOTIFY_SOCKET`), if a manager asks.
        public var notifier: ServiceManagerNotifier?
        /// The level of the one access-log line per RPC (method, name, code, duration, uid/pid).
        /// Debug by default, so that a daemon logging at info prints none.
        public var accessLogLevel: Logger.Level = .debug
        /// Where RPCs, commits and the engine's state are recorded for Prometheus; nil records
        /// nothing. The endpoint that serves them is a ``MetricsListener`` next to the server.
        public var metrics: LongrunMetrics?
        /// Where the HTTP/JSON gateway listens (the Operations API over HTTP/1.1, ``HTTPGateway``):
        /// a second Unix socket, bound with the same mode and group as `socketPath`. Nil: no gateway.
        public var httpSocketPath: String?
        /// A listening socket the service manager opened for the gateway (named `http`), served
        /// instead of binding `httpSocketPath` and left in place at exit.
        public var inheritedHTTPSocket: Int32?
        /// Largest HTTP request body the gateway accepts; larger is answered 413.
        public var maximumHTTPBodyBytes = 64 << 10
        /// How long a keep-alive HTTP connection may sit with no request before the gateway closes it.
        public var httpIdleTimeout: Duration = .seconds(60)
        /// Answer GetOperation, ListOperations (a page that reads only what it returns; another in a
        /// task of its own) and WaitOperation on the connection's event loop when the store reads
        /// without suspending (LMDB), and CancelOperation, DeleteOperation and the unary CreateOperation,
        /// UpdateOperation and CompleteOperation from the writer's commit (``UnaryFastPath``), rather than through a task per call. Off:
        /// every call takes grpc-swift's path (the tests compare the two).
        public var answersOnEventLoop = true

        public init(socketPath: String) {
            self.socketPath = socketPath
        }
    }

    public let configuration: Configuration
    private let engine: LongrunEngine
    private let logger: Logger
    private let listeningSocket: Int32
    /// The gateway's listening socket, if it serves one.
    private let httpListeningSocket: Int32?
    /// Open waits and watches per uid, shared by the services.
    let quotas: PeerQuotas
    /// What `grpc.health.v1.Health` reports: starting, serving or draining, and the engine's signals.
    public let health: HealthStatusSource

    /// Binds the socket now, so that a caller learns of a conflict before anything starts.
    public init(engine: LongrunEngine, configuration: Configuration, logger: Logger) throws {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.quotas = PeerQuotas(limits: .init(waits: configuration.maximumWaitsPerPeer, watches: configuration.maximumWatchesPerPeer,
                                               bufferedBytes: configuration.maximumBufferedBytesPerPeer,
                                               connections: configuration.maximumConnectionsPerPeer))
        self.health = HealthStatusSource(services: Self.servedServices + [Self.integrityHealthName], conditions: Self.healthConditions(engine: engine))
        let listeningSocket = try configuration.inheritedSocket
            ?? UnixListener.bind(path: configuration.socketPath, mode: configuration.socketMode, group: configuration.socketGroup)
        do {
            // The same rules as the gRPC socket: who may connect is decided the same way for both.
            self.httpListeningSocket = try configuration.inheritedHTTPSocket ?? configuration.httpSocketPath.map {
                try UnixListener.bind(path: $0, mode: configuration.socketMode, group: configuration.socketGroup)
            }
        } catch {
            if configuration.inheritedSocket == nil {
                close(listeningSocket)
                unlink(configuration.socketPath)
            }
            throw error
        }
        self.listeningSocket = listeningSocket
        configuration.metrics?.observe(engine: engine, quotas: quotas)
    }

    private func services() -> [any RegistrableRPCService] {
        let reflection = ReflectionService(index: .generated, services: Self.servedServices)
        return [
            OperationsService(engine: engine, maximumWait: configuration.maximumWait, quotas: quotas),
            ProducersService(engine: engine, quotas: quotas, logger: logger),
            HistoryService(engine: engine, quotas: quotas),
            AdminService(engine: engine, logger: logger),
            HealthService(source: health, logger: logger, pollInterval: configuration.healthPollInterval),
            reflection,
            ReflectionServiceV1Alpha(v1: reflection),
        ]
    }

    /// Every service served, by fully-qualified name: what reflection lists and health knows.
    public static let servedServices = [
        Google_Longrunning_Operations.descriptor.fullyQualifiedService,
        Longrun_V1_Producers.descriptor.fullyQualifiedService,
        Longrun_V1_History.descriptor.fullyQualifiedService,
        Longrun_V1_Admin.descriptor.fullyQualifiedService,
        Grpc_Health_V1_Health.descriptor.fullyQualifiedService,
        Grpc_Reflection_V1_ServerReflection.descriptor.fullyQualifiedService,
        Grpc_Reflection_V1alpha_ServerReflection.descriptor.fullyQualifiedService,
    ]

    /// The services whose handlers read a ``CallContext`` (``CallContextInterceptor``).
    static let contextServices: Set = [
        Google_Longrunning_Operations.descriptor,
        Longrun_V1_Producers.descriptor,
        Longrun_V1_History.descriptor,
        Longrun_V1_Admin.descriptor,
    ]

    /// The services with methods that write (create, update, cancel, delete, hold, snapshot).
    static let writingServices: Set = [
        Google_Longrunning_Operations.descriptor.fullyQualifiedService,
        Longrun_V1_Producers.descriptor.fullyQualifiedService,
        Longrun_V1_Admin.descriptor.fullyQualifiedService,
    ]

    /// The health name that is NOT_SERVING while the integrity checks know of damage (a record
    /// that fails its checksum, a broken chain, a damaged snapshot): `longrun info` lists it and
    /// `longrun repair` fixes what the log can rebuild. The daemon keeps serving everything else,
    /// and a restart would not cure it, so neither `""` nor any real service reports it.
    public static let integrityHealthName = "longrun.integrity"

    /// What makes the daemon, or some of its services, NOT_SERVING besides starting and draining.
    /// A new condition is one more line here.
    static func healthConditions(engine: LongrunEngine) -> [HealthCondition] {
        [
            HealthCondition("writes refused: the store or its disk is full", affects: writingServices) { engine.writesRefused },
            HealthCondition("writes refused: the store could not finish opening (see the log); restart longrund", affects: writingServices) {
                engine.openingFailed
            },
            HealthCondition("the store could not commit a write it had answered (see the log); restart longrund, which applies it") {
                engine.commitFailed
            },
            HealthCondition("the store is closed") { engine.isClosed },
            HealthCondition("damage found: see longrun info", affects: [integrityHealthName], affectsWholeServer: false) {
                engine.integrityDamageKnown
            },
        ]
    }

    /// The path that answers the hottest unary calls in the stream's pipeline, if it is on.
    private var fastPath: UnaryFastPath? {
        guard configuration.answersOnEventLoop else { return nil }
        return UnaryFastPath(
            engine: engine, policy: configuration.access, maximumRequestBytes: configuration.maximumRequestBytes,
            maximumWait: configuration.maximumWait, quotas: quotas, logger: logger, metrics: configuration.metrics,
            accessLogLevel: logger.logLevel <= configuration.accessLogLevel ? configuration.accessLogLevel : nil,
            answered: eventLoopAnswers
        )
    }

    private let eventLoopAnswers = UnaryFastPath.Counter()

    /// How many calls were answered on the event loop (``Configuration/answersOnEventLoop``).
    public var callsAnsweredOnEventLoop: Int { eventLoopAnswers.value }

    public func run() async throws {
        let transport = UnixServerTransport(configuration: .init(
            listeningSocket: listeningSocket, inherited: configuration.inheritedSocket != nil, policy: configuration.access,
            maximumRequestBytes: configuration.maximumRequestBytes,
            // Every wait and watch a peer may hold, on one connection, and room for other calls.
            maximumConcurrentStreams: quotas.limits.streamsPerPeer,
            fastPath: fastPath, quotas: quotas, logger: logger
        ))
        // Metrics count every call when enabled; the access log is installed only when its lines
        // would be printed: off, it costs nothing. Innermost, Longrun's own services get their
        // call context, and their errors' statuses, from one interceptor: both observers see the
        // status the client receives.
        var interceptors: [ConditionalInterceptor<any ServerInterceptor>] = configuration.metrics.map { [.apply(RPCMetrics(metrics: $0), to: .all)] } ?? []
        if logger.logLevel <= configuration.accessLogLevel {
            interceptors.append(.apply(AccessLog(logger: logger, level: configuration.accessLogLevel), to: .all))
        }
        interceptors.append(.apply(CallContextInterceptor(policy: configuration.access, logger: logger), to: .services(Self.contextServices)))
        let server = GRPCServer(transport: transport, services: services(), interceptorPipeline: interceptors)
        let engine = self.engine
        let health = self.health
        let notifier = configuration.notifier
        defer { if configuration.inheritedSocket == nil { unlink(configuration.socketPath) } }
        defer { if configuration.inheritedHTTPSocket == nil, let path = configuration.httpSocketPath { unlink(path) } }
        let httpChannel = try await startHTTPGateway()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await withGracefulShutdownHandler {
                    try await server.serve()
                } onGracefulShutdown: {
                    notifier?.notify("STOPPING=1\nSTATUS=draining: finishing open calls, committing what is queued")
                    // First, so that health watchers hear NOT_SERVING before their streams end.
                    health.advance(to: .draining)
                    // Then mark the engine closed: it ends waits and watches, which would otherwise
                    // hold the server open, and any call cancelled from here on tells its client the
                    // server is going away (UNAVAILABLE), not that the client cancelled it. Commits
                    // already queued still land before the store closes.
                    engine.close()
                    server.beginGracefulShutdown()
                }
            }
            group.addTask {
                try await cancelWhenGracefulShutdown { try await engine.run() }
            }
            if let httpChannel {
                // Stops accepting on graceful shutdown, like the gRPC socket; a request already
                // read is answered (after the engine closed, with UNAVAILABLE: SHUTTING_DOWN).
                group.addTask { await HTTPServerChannel.serve(httpChannel) }
            }
            try await transport.listening
            health.advance(to: .serving)
            logger.notice("serving", metadata: ["socket": "\(configuration.socketPath)", "data_dir": "\(engine.location)"])
            if httpChannel != nil, let path = configuration.httpSocketPath {
                logger.notice("serving HTTP/JSON", metadata: ["http_socket": "\(path)"])
            }
            if let notifier {
                notifier.notify("READY=1\nSTATUS=serving on \(configuration.socketPath)")
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        await cancelWhenGracefulShutdown { await Self.keepWatchdogFed(notifier, every: interval, engine: engine) }
                    }
                }
            }
        }
        engine.close()
    }
}

extension LongrunServer {
    /// Starts serving the gateway's socket, if there is one: the same Operations methods, access
    /// policy, access log and metrics as the gRPC socket, each connection's peer read on accept.
    private func startHTTPGateway() async throws -> (any Channel)? {
        guard let httpListeningSocket else { return nil }
        var gateway = HTTPGateway(methods: OperationsMethods(engine: engine), policy: configuration.access, logger: logger,
                                  accessLogLevel: configuration.accessLogLevel, metrics: configuration.metrics)
        gateway.maximumBodyBytes = configuration.maximumHTTPBodyBytes
        let policy = configuration.access
        let idle = TimeAmount.nanoseconds(Int64(configuration.httpIdleTimeout / .nanoseconds(1)))
        let quotas = quotas
        let channel = try await HTTPServerChannel.bootstrap { [gateway] channel in
            let peer = PeerIdentity.credentials(of: channel, policy: policy)
            let refusal: GoogleRPCStatus?
            switch try ConnectionGate.admit(channel, peer: peer, quotas: quotas, logger: gateway.logger) {
            case .serve: refusal = nil
            case .refuse(let error): refusal = error.googleRPCStatus
            case .closed: return
            }
            // In front of the codec, so that any bytes at all count as activity. A refused
            // connection has only the moment its refusal takes.
            let timeout = refusal == nil ? idle : ConnectionGate.refusalLinger
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: timeout), position: .first)
            try channel.pipeline.syncOperations.addHandler(HTTPGatewayHandler(gateway: gateway, peer: peer, quotas: quotas, refusal: refusal))
        }.withBoundSocket(httpListeningSocket).get()
        UnixListener.restoreBacklog(of: httpListeningSocket, inherited: configuration.inheritedHTTPSocket != nil)
        return channel
    }

    /// Sends `WATCHDOG=1` every `interval` for as long as the store answers a read: a daemon whose
    /// store hangs stops feeding the watchdog, and the service manager restarts it.
    static func keepWatchdogFed(_ notifier: ServiceManagerNotifier, every interval: Duration, engine: LongrunEngine) async {
        while !Task.isCancelled {
            if (try? await engine.appliedSequence()) != nil { notifier.notify("WATCHDOG=1") }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    public static let version = LongrunVersion.current

    /// Fails if another daemon serves on `socketPath` or the path is not a socket; a stale socket
    /// is fine (``init(engine:configuration:logger:)`` replaces it).
    public static func checkSocketAvailable(_ socketPath: String) throws {
        try UnixListener.checkAvailable(path: socketPath)
    }
}
