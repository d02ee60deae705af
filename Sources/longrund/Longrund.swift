import ArgumentParser
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunEngine
import LongrunPostgres
import LongrunServer
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `longrund`: serves a Longrun data directory on a Unix socket. Thin: parses flags, then hands
/// over to `LongrunServer` inside a `ServiceGroup`.
@main
struct Longrund: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrund",
        abstract: "Serve long-running operations (google.longrunning.Operations) on a Unix socket.",
        discussion: """
            With no options it serves the default data directory on the default socket:
            as root /var/lib/longrun and /run/longrun/longrund.sock; otherwise
            $XDG_STATE_HOME/longrun and $XDG_RUNTIME_DIR/longrun/longrund.sock.
            google.longrunning.Operations is also served over HTTP/1.1 and JSON on a second
            socket, longrund-http.sock next to it (--http-socket; none turns it off).
            SIGTERM or SIGINT stop it gracefully: queued commits land, the store closes cleanly.
            Under a service manager (Tools/systemd): it serves the socket passed by socket
            activation (LISTEN_FDS) and reports READY=1, STOPPING=1 and WATCHDOG=1 to NOTIFY_SOCKET.
            """,
        version: LongrunVersion.current
    )

    @Option(help: "Config file whose keys are these options' names (default: $LONGRUN_CONFIG, else /etc/longrun/longrund.toml as root or $XDG_CONFIG_HOME/longrun/longrund.toml, if it exists). Each option is also read from $LONGRUND_<OPTION>; flags win over the environment, which wins over the file.")
    var config: String?

    @Flag(help: "Print the effective configuration, each value with its source, as a config file, and exit.")
    var printConfig = false

    @Option(help: "Data directory (default: $LONGRUN_DATA_DIR or the embedded default).")
    var dataDir: String?

    @Option(help: "A PostgreSQL store several hosts share instead of the data directory: postgres://user@host[:port]/database, or postgres://user@/database?host=/run/postgresql for the server's socket (password: in the URL or $PGPASSWORD).")
    var store: String?

    @Option(help: "Unix socket to listen on (default: $LONGRUN_SOCKET or the embedded default).")
    var socket: String?

    @Option(help: "Unix socket of the HTTP/JSON gateway: the Operations API over HTTP/1.1 (curl --unix-socket PATH http://localhost/v1/operations), bound with the same --socket-mode and --socket-group; none: no gateway (default: longrund-http.sock next to --socket; under socket activation, only the socket passed with FileDescriptorName=http).")
    var httpSocket: String?

    @Option(help: "The host recorded in every event this daemon commits, so that the events of several hosts sharing one store say where each was made (default: the system's host name).")
    var hostName: String?

    @Option(help: "Permission bits of the socket, in octal: who may connect.")
    var socketMode: String = "0660"

    @Option(help: "Group of the socket (name or gid): with the default mode 0660 its members may connect.")
    var socketGroup: String?

    @Option(help: "Members of this group (name or gid) may progress, complete, cancel, delete and hold any operation, like root.")
    var adminGroup: String?

    @Flag(help: "Callers read only the operations their uid created (root, the daemon's user and the admin group read all).")
    var ownerOnly = false

    @Flag(help: "Serve GetOperation, ListOperations and WaitOperation (LMDB), CancelOperation, DeleteOperation and the unary CreateOperation, UpdateOperation and CompleteOperation through grpc-swift's task per call, as every other call, instead of answering them from the connection's event loop and the writer's commit (the default: the same answers at a fraction of the server CPU per call).")
    var noEventLoopAnswers = false

    @Option(help: "Most WaitOperation calls one uid may have open at once. With --max-watches-per-peer and 1,024 more, also the calls of any kind one connection, and one uid on all its connections, may have open.")
    var maxWaitsPerPeer: Int = 16_384

    @Option(help: "Most WatchOperations streams one uid may have open at once.")
    var maxWatchesPerPeer: Int = 256

    @Option(help: "Most connections one uid may have open at once, to the gRPC and HTTP sockets together (each holds memory until it closes, 25-30 KB idle). Past it, the calls on a new connection are refused with RESOURCE_EXHAUSTED, TOO_MANY_CONNECTIONS, and it is closed, with a warning at most once a minute.")
    var maxConnectionsPerPeer: Int = 1_024

    @Option(help: "Most bytes the daemon holds for one uid, on all its calls and connections, e.g. 256MiB (at least 8MiB), counted apart for request messages still arriving (each at the size it announces; a message past it is refused with RESOURCE_EXHAUSTED, TOO_MANY_PENDING_BYTES), for writes waiting for their commits (refused the same way) and for answers its peer has not read yet (past it, the connection that took it there is closed, with a warning).")
    var maxBufferedBytesPerPeer: String = "256MiB"

    @Option(help: "full: fsync every commit (nothing acknowledged is lost). relaxed: sync every --sync-interval.")
    var durability: DurabilityFlag = .full

    @Option(help: "With --durability relaxed: the longest time a commit stays unsynced (e.g. 1s, 200ms).")
    var syncInterval: String = "1s"

    @Option(help: "How long a producer has to finish after a cancel request before the engine completes the operation with CANCELLED.")
    var cancelGrace: String = "30s"

    @Option(help: "Longest WaitOperation call when neither its timeout nor its deadline is shorter.")
    var maxWait: String = "1h"

    @Option(help: "Take a snapshot once the log grew by this many times the size of the snapshot to write (the records it would hold: every operation's, or in a differential those changed since its base; at the last snapshot's bytes per record), and by 64 MiB at least (0: not by size).")
    var snapshotLogRatio: UInt64 = 4

    @Option(help: "Take a snapshot after this many events since the last one (0: not by count).")
    var snapshotEvery: UInt64 = 0

    @Option(help: "Take a snapshot this long after the last one if anything changed (0s: not by time).")
    var snapshotInterval: String = "0s"

    @Option(help: "Snapshots to keep in <data-dir>/snapshots (a differential's base is kept with it); older ones are removed.")
    var snapshotsKept: Int = 3

    @Flag(help: "Write only full snapshots: never a differential one (the records of the operations changed since the newest full snapshot, written instead of a full one when fewer than half the records changed). Builds before differentials restore only from full snapshots.")
    var fullSnapshotsOnly = false

    @Option(help: "Expire operations that succeeded this long after they ended, e.g. 7d (default: keep forever).")
    var retainSucceeded: String?

    @Option(help: "Expire operations that failed this long after they ended (default: keep forever).")
    var retainFailed: String?

    @Option(help: "Expire operations that were cancelled this long after they ended (default: keep forever).")
    var retainCancelled: String?

    @Option(help: "Drop log events older than this once a snapshot covers them, e.g. 30d (default: keep the whole log); a snapshot is then also taken once the last is this old, if 64 MiB of log were written since. History and watches cannot reach before the retained log.")
    var compactLogAfter: String?

    @Option(help: "How often a background scrub checks the whole store (chain, checksums, views against the log, snapshots), using at most 3% of one core; 0s: only on demand (longrun scrub).")
    var scrubInterval: String = "24h"

    @Option(help: "Largest the data file may grow, e.g. 64GiB, 512MiB, 2T. Writes beyond it fail with RESOURCE_EXHAUSTED (STORE_FULL) while reads keep working; raise it and restart.")
    var maxStoreSize: String = "64GiB"

    @Option(help: "With --durability full, the size of the write-ahead journal in the data directory that makes a commit durable with one flush instead of LMDB's two, e.g. 64MiB; 0: no journal, LMDB flushes each commit itself.")
    var journalSize: String = "64MiB"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "text: one readable line per message; json: one JSON object per line (time, level, label, message, source, then the metadata), for log collectors.")
    var logFormat: LogFormat = .text

    @Option(help: "Level of the access log, one line per RPC (method, name, code, duration_ms, uid, pid): printed when --log-level is this level or lower. The default, debug, prints none at --log-level info.")
    var accessLogLevel: String = "debug"

    @Option(help: "Serve Prometheus metrics over HTTP (GET /metrics) on host:port (e.g. 127.0.0.1:9464) or on a Unix socket path (any value with a '/'). Off by default.")
    var metricsListen: String?

    @Option(help: "A FileDescriptorSet (protoc --include_imports --descriptor_set_out=FILE) with the producers' metadata and response types, so that filters reach inside them: metadata.percent_done > 50. Repeatable; several files may also be given separated by commas (as the config file and environment do).")
    var descriptorSet: [String] = []

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    enum DurabilityFlag: String, ExpressibleByArgument, CaseIterable {
        case full, relaxed
    }

    func run() async throws {
        // Before the store opens and the first snapshot frees its write buffer.
        Self.pinAllocatorThresholds(environment: ServiceManager.environment)
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard let accessLevel = Logger.Level(rawValue: accessLogLevel) else {
            throw ValidationError("unknown --access-log-level \(accessLogLevel) (trace, debug, info, notice, warning, error or critical)")
        }
        if logFormat == .json { LoggingSystem.bootstrap(JSONLogHandler.init(label:)) }
        var logger = Logger(label: "longrund")
        logger.logLevel = level
        if let limit = OpenFileLimit.raiseToHardLimit() {
            logger.debug("open files limit", metadata: ["before": "\(limit.before)", "now": "\(limit.after)"])
        }
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else { throw ValidationError("--socket-mode must be octal permission bits such as 0660") }
        guard let grace = DurationText.parse(cancelGrace) else { throw ValidationError("--cancel-grace: not a duration: \(cancelGrace) (try 30s)") }
        guard let wait = DurationText.parse(maxWait) else { throw ValidationError("--max-wait: not a duration: \(maxWait) (try 1h)") }
        guard let snapshotPeriod = DurationText.parse(snapshotInterval) else {
            throw ValidationError("--snapshot-interval: not a duration: \(snapshotInterval) (try 1h, or 0s to disable)")
        }
        guard maxWaitsPerPeer >= 1, maxWatchesPerPeer >= 1 else { throw ValidationError("--max-waits-per-peer and --max-watches-per-peer must be at least 1") }
        guard maxConnectionsPerPeer >= 1 else { throw ValidationError("--max-connections-per-peer must be at least 1") }
        guard snapshotsKept >= 1 else { throw ValidationError("--snapshots-kept must be at least 1") }
        func duration(_ text: String?, _ flag: String) throws -> Duration? {
            guard let text else { return nil }
            guard let value = DurationText.parse(text), value > .zero else { throw ValidationError("\(flag): not a positive duration: \(text) (try 7d)") }
            return value
        }
        let retention = RetentionPolicy(
            succeeded: try duration(retainSucceeded, "--retain-succeeded"),
            failed: try duration(retainFailed, "--retain-failed"),
            cancelled: try duration(retainCancelled, "--retain-cancelled")
        )
        let compaction = try duration(compactLogAfter, "--compact-log-after")
        guard let scrubPeriod = DurationText.parse(scrubInterval) else {
            throw ValidationError("--scrub-interval: not a duration: \(scrubInterval) (try 24h, or 0s to scrub only on demand)")
        }
        guard let interval = DurationText.parse(syncInterval), interval > .zero else {
            throw ValidationError("--sync-interval: not a positive duration: \(syncInterval) (try 1s)")
        }

        let metricsAddress: MetricsAddress?
        do { metricsAddress = try metricsListen.map { try MetricsAddress(parsing: $0) } } catch {
            throw ValidationError("--metrics-listen: \(error)")
        }

        let defaults = DefaultPaths.current
        let dataDirectory = dataDir ?? defaults.dataDirectory
        let sharedStore = try store.map { text in
            do { return try PostgresLocation(parsing: text, environment: ServiceManager.environment) } catch {
                throw ValidationError("--store: \(error)")
            }
        }
        if sharedStore != nil, dataDir != nil { throw ValidationError("--store and --data-dir name two stores: give one") }
        let environment = ServiceManager.environment
        // Socket activation: the service manager's socket is served instead of binding one.
        let activation = Result { try ServiceManager.inheritedSockets(environment: environment) }
        let inheritedSockets = (try? activation.get()) ?? nil
        let inherited = inheritedSockets?.grpc
        let socketPath = inherited?.path ?? socket ?? defaults.socketPath
        let httpSocketPath = inheritedSockets?.http?.path
            ?? Self.httpSocketPath(httpSocket, grpcSocket: socketPath, socketActivated: inherited != nil)
        if let httpSocketPath, httpSocketPath == socketPath {
            throw ValidationError("--http-socket must differ from --socket (\(socketPath)): the HTTP/JSON gateway has a socket of its own")
        }
        var engineConfiguration = LongrunEngine.Configuration()
        engineConfiguration.durability = durability == .full ? .full : .relaxed(syncInterval: interval)
        engineConfiguration.defaultCancelGrace = grace
        guard let storeLimit = StoreSize.parse(maxStoreSize), storeLimit >= 1 << 20 else {
            throw ValidationError("--max-store-size: not a size of at least 1MiB: \(maxStoreSize) (try 64GiB)")
        }
        engineConfiguration.maximumMapSize = storeLimit
        guard let bufferedLimit = StoreSize.parse(maxBufferedBytesPerPeer), bufferedLimit >= 8 << 20 else {
            throw ValidationError("--max-buffered-bytes-per-peer: not a size of at least 8MiB (a whole request of 4 MiB): \(maxBufferedBytesPerPeer) (try 256MiB)")
        }
        guard let journalBytes = StoreSize.parse(journalSize), journalBytes == 0 || (journalBytes >= 1 << 20 && journalBytes <= 1 << 32) else {
            throw ValidationError("--journal-size: not 0 or a size from 1MiB to 4GiB: \(journalSize) (try 64MiB)")
        }
        engineConfiguration.journalSize = journalBytes
        engineConfiguration.snapshotLogRatio = snapshotLogRatio == 0 ? nil : Double(snapshotLogRatio)
        engineConfiguration.snapshotEveryEvents = snapshotEvery == 0 ? nil : snapshotEvery
        engineConfiguration.snapshotInterval = snapshotPeriod == .zero ? nil : snapshotPeriod
        engineConfiguration.snapshotsKept = snapshotsKept
        engineConfiguration.snapshotDifferentials = !fullSnapshotsOnly
        engineConfiguration.retention = retention
        engineConfiguration.compactLogOlderThan = compaction
        engineConfiguration.scrubInterval = scrubPeriod == .zero ? nil : scrubPeriod
        engineConfiguration.hostName = hostName ?? Self.systemHostName()
        let descriptorPaths = descriptorSet.flatMap { $0.split(separator: ",").map(String.init) }
        do { engineConfiguration.payloadSchemas = try PayloadDescriptors.load(paths: descriptorPaths) } catch {
            throw ValidationError("\(error)")
        }

        let storeText = sharedStore.map { "store \($0)" } ?? "data directory \(dataDirectory)"
        let httpText = httpSocketPath.map { ", HTTP socket \($0)" } ?? ""
        print("longrund \(LongrunServer.version): \(storeText), socket \(socketPath)\(httpText), durability \(sharedStore == nil ? engineConfiguration.durability.description : "the server's")")
        fflush(nil)
        var metricsListener: MetricsListener?
        do {
            // A socket activation longrund cannot use is refused before anything is created.
            _ = try activation.get()
            // Refuse a live socket before creating or locking anything (an inherited one is ours).
            if inherited == nil { try LongrunServer.checkSocketAvailable(socketPath) }
            if inheritedSockets?.http == nil, let httpSocketPath { try LongrunServer.checkSocketAvailable(httpSocketPath) }
            // Bound before the store opens: a taken address fails the start before anything is created.
            let metrics = metricsAddress.map { _ in LongrunMetrics() }
            if let metricsAddress, let metrics {
                metrics.bootstrapMetricsSystem()
                metricsListener = try await MetricsListener.bind(metricsAddress, metrics: metrics, logger: logger)
            }
            let lock: AnyObject?
            let engine: LongrunEngine
            if let sharedStore {
                // Several hosts share it: no lock, no directory; PostgreSQL keeps durability.
                lock = nil
                let backend = try await PostgresStore.open(sharedStore, logger: logger)
                engine = try await LongrunEngine(store: backend, configuration: engineConfiguration, logger: logger)
            } else {
                // Refuse a data directory that is not a store before the lock file is created in it.
                try LongrunEngine.checkDirectory(dataDirectory)
                lock = try LongrunEngine.lockDirectory(dataDirectory)
                engine = try LongrunEngine(directory: dataDirectory, configuration: engineConfiguration, logger: logger)
            }
            var serverConfiguration = LongrunServer.Configuration(socketPath: socketPath)
            serverConfiguration.socketMode = mode
            serverConfiguration.socketGroup = try socketGroup.map { try Self.groupID($0, flag: "--socket-group") }
            serverConfiguration.access = AccessPolicy(adminGroup: try adminGroup.map { try Self.groupID($0, flag: "--admin-group") }, ownerOnly: ownerOnly)
            serverConfiguration.maximumWaitsPerPeer = maxWaitsPerPeer
            serverConfiguration.maximumWatchesPerPeer = maxWatchesPerPeer
            serverConfiguration.maximumConnectionsPerPeer = maxConnectionsPerPeer
            serverConfiguration.maximumBufferedBytesPerPeer = bufferedLimit
            serverConfiguration.maximumWait = wait
            serverConfiguration.inheritedSocket = inherited?.descriptor
            serverConfiguration.httpSocketPath = httpSocketPath
            serverConfiguration.inheritedHTTPSocket = inheritedSockets?.http?.descriptor
            serverConfiguration.accessLogLevel = accessLevel
            serverConfiguration.answersOnEventLoop = !noEventLoopAnswers
            serverConfiguration.notifier = ServiceManagerNotifier(environment: environment)
            serverConfiguration.metrics = metrics
            let server: LongrunServer
            do {
                server = try LongrunServer(engine: engine, configuration: serverConfiguration, logger: logger)
            } catch {
                engine.close()
                throw error
            }
            // Services stop in reverse order: the server drains first, metrics stay scrapeable meanwhile.
            var services: [any Service] = []
            if let metricsListener { services.append(metricsListener) }
            services.append(server)
            var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            // A connection that never answers the server's GOAWAY (or never even speaks HTTP/2) would
            // hold a graceful shutdown open forever: after this long, open calls are cancelled.
            groupConfiguration.maximumGracefulShutdownDuration = .seconds(5)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            withExtendedLifetime(lock) {}
            logger.notice("stopped cleanly")
        } catch {
            await metricsListener?.close()
            // Startup and storage errors say what to do next; print them plainly, without a trace
            // (as a JSON line too when the logs are JSON, so a collector reads every line).
            if logFormat == .json {
                logger.critical("longrund: \(error)")
            } else {
                let line = "longrund: \(error)\n"
                _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            }
            throw ExitCode(1)
        }
    }
}
