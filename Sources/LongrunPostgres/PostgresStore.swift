public import Logging
import LongrunDomain
public import LongrunStore
import PostgresNIO
import Synchronization

/// The PostgreSQL backend of the storage seam: several `longrund` hosts share one store.
///
/// Every write batch is one PostgreSQL transaction that first locks the one `longrun_head` row, so
/// writers on every host commit one at a time, each batch's events get the next sequences, and
/// sequence order is commit order: a reader that sees sequence `n` committed sees everything before
/// it, and the log's hash chain is one chain, exactly as on LMDB. (Group commit on each host keeps
/// the lock's cost per batch, not per transition.) Reads go through a connection pool and never
/// wait for writers. Each host follows the others' commits by `LISTEN` (a hint) and by reading the
/// log after the last sequence it saw every ``Options/pollInterval`` (so a lost notification delays
/// a wake-up, never loses it).
public final class PostgresStore: OperationStore {
    public struct Options: Sendable {
        /// How often a follower reads the log when no notification arrived: the longest a waiter on
        /// this host waits for another host's commit when notifications are lost.
        public var pollInterval: Duration = .milliseconds(500)
        /// Announce each commit with `NOTIFY` (one per batch). Off: other hosts learn by polling.
        public var notifyCommits = true
        /// Connections the read pool may open.
        public var maximumReadConnections = 16
        /// How long to wait for a connection before a call fails with UNAVAILABLE.
        public var connectTimeout: Duration = .seconds(5)
        /// The longest the writer waits for each step of a batch (lock and load; write and commit):
        /// past it the writer drops its connection and the batch fails with UNAVAILABLE (it may have
        /// committed: retries are safe with request ids and expected versions). Without it a server
        /// that stopped answering without closing its sockets (a host crash, a partition) would hold
        /// every write, and a shutdown, until TCP gave up.
        public var writeTimeout: Duration = .seconds(5)
        /// Create the tables in a schema that has none (a daemon); false: refuse it (tools that
        /// read a store, which must not create one by mistake).
        public var createIfAbsent = true

        public init() {}
    }

    public let location: String
    let target: PostgresLocation
    let options: Options
    let logger: Logger
    let client: PostgresClient
    private let clientTask: Task<Void, Never>
    /// The writer's own connection, outside the pool: a batch's queries share one transaction.
    /// Only the engine's writer thread touches it.
    private let writerConnection = Mutex<PostgresConnection?>(nil)
    let follower = Mutex<Task<Void, Never>?>(nil)
    private let closed = Mutex(false)
    /// Ends this store object's commit notifications, so that its follower skips its own.
    let commitToken = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    private init(target: PostgresLocation, options: Options, logger: Logger) {
        self.target = target
        self.location = target.description
        self.options = options
        self.logger = logger
        var configuration = Self.clientConfiguration(target)
        configuration.options.maximumConnections = options.maximumReadConnections
        configuration.options.connectTimeout = options.connectTimeout
        configuration.options.additionalStartupParameters = [("search_path", target.schema)]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.clientTask = Task { await client.run() }
    }

    /// Connects, creates the tables if the database has none (or refuses a newer schema), and
    /// returns the store. UNAVAILABLE with what to check if the server cannot be reached.
    public static func open(_ target: PostgresLocation, options: Options = .init(), logger: Logger) async throws -> PostgresStore {
        let store = PostgresStore(target: target, options: options, logger: logger)
        do {
            let connection = try await store.connect()
            defer { Task { try? await connection.close() } }
            try await PostgresSchema.prepare(connection, schema: target.schema, create: options.createIfAbsent, logger: logger)
        } catch {
            store.close()
            if let error = error as? StorePrepareError { throw StoreError(error.kind, error.description) }
            throw store.mapped(error)
        }
        return store
    }

    public func close() {
        guard closed.withLock({ wasClosed in defer { wasClosed = true }; return !wasClosed }) else { return }
        follower.withLock { $0?.cancel() }
        if let connection = writerConnection.withLock({ value in defer { value = nil }; return value }) {
            Task { try? await connection.close() }
        }
        clientTask.cancel()
    }

    /// Removes the store: its schema with everything in it, or, in the `public` schema, its
    /// tables. For tests, and for tools that move a store elsewhere. Irreversible.
    public func dropEverything() async throws {
        let statement = target.schema == "public"
            ? "DROP TABLE IF EXISTS longrun_head, longrun_log, longrun_operations, longrun_request_ids, longrun_meta"
            : "DROP SCHEMA IF EXISTS \(target.schema) CASCADE"
        _ = try await reading { [logger] connection in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
    }

    /// Runs one SQL statement on the store's schema (tests edit the store with it).
    package func execute(_ sql: String) async throws {
        _ = try await reading { [logger] connection in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }

    // MARK: Connections

    static func clientConfiguration(_ target: PostgresLocation) -> PostgresClient.Configuration {
        switch target.endpoint {
        case .unixSocket(let path):
            return .init(unixSocketPath: path, username: target.user, password: target.password, database: target.database)
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS = switch target.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
            return .init(host: host, port: port, username: target.user, password: target.password, database: target.database, tls: tls)
        }
    }

    /// A connection of its own, outside the pool (the writer's, the schema check's).
    func connect() async throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        switch target.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: target.user, password: target.password, database: target.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS = switch target.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: host, port: port, username: target.user, password: target.password, database: target.database, tls: tls)
        }
        configuration.options.connectTimeout = .nanoseconds(options.connectTimeout.nanoseconds)
        configuration.options.additionalStartupParameters = [("search_path", target.schema)]
        return try await PostgresConnection.connect(configuration: configuration, id: Self.nextConnectionID(), logger: logger)
    }

    private static let connectionIDs = Atomic<Int>(1)
    private static func nextConnectionID() -> Int { connectionIDs.add(1, ordering: .relaxed).newValue }

    /// The writer's connection, opened (again) when there is none.
    func writerConnectionOrConnect() throws -> PostgresConnection {
        if let connection = writerConnection.withLock({ $0 }), !connection.isClosed { return connection }
        let connection = try runBlocking(timeout: options.connectTimeout + .seconds(1)) { [self] in try await connect() }
        writerConnection.withLock { $0 = connection }
        return connection
    }

    /// Forgets the writer's connection after a failure, so that the next batch opens a new one.
    func dropWriterConnection() {
        if let connection = writerConnection.withLock({ value in defer { value = nil }; return value }) {
            Task { try? await connection.close() }
        }
    }

    // MARK: Errors

    /// No pooled connection within ``Options/connectTimeout``.
    struct LeaseTimeout: Error {}

    /// Set once a read has its connection.
    final class LeaseFlag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// The one place PostgreSQL failures become store errors: the server unreachable or gone is
    /// UNAVAILABLE (retry; nothing unacknowledged was committed by this call's batch), anything
    /// else a storage failure with the server's words.
    func mapped(_ error: any Error) -> any Error {
        if error is StoreError || error is DomainError || error is CancellationError { return error }
        if error is LeaseTimeout {
            return StoreError(.unavailable, """
                PostgreSQL at \(location) gave no connection within \(options.connectTimeout): check that the server runs and \
                accepts connections from this host (and max_connections), then retry; longrund reconnects by itself
                """)
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                 .sslUnsupported, .failedToAddSSLHandler:
                return StoreError(.unavailable, """
                    PostgreSQL at \(location) cannot be reached (\(error.code)): check that the server runs and accepts \
                    connections from this host, then retry; longrund reconnects by itself
                    """, underlying: error)
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                let message = error.serverInfo?[.message] ?? "\(error)"
                // Class 08: connection exception; 57P0x: the server is shutting down or restarting;
                // 53: out of resources (too many connections, disk full).
                if state.hasPrefix("08") || state.hasPrefix("57P") {
                    return StoreError(.unavailable, "PostgreSQL at \(location) is not available (\(state): \(message)); retry, longrund reconnects by itself", underlying: error)
                }
                if state.hasPrefix("53") {
                    return StoreError(.resourceExhausted, "PostgreSQL at \(location) is out of resources (\(state): \(message)): free disk space or raise max_connections", underlying: error)
                }
                if state == "28P01" || state == "28000" {
                    return StoreError(.unavailable, "PostgreSQL at \(location) refused the login (\(message)): check the user and password in --store or PGPASSWORD", underlying: error)
                }
                if state == "3D000" {
                    return StoreError(.unavailable, "PostgreSQL at \(location): \(message); create the database (createdb) or name another in --store", underlying: error)
                }
                return StoreError(.storage, "PostgreSQL at \(location) failed (\(state)): \(message)", underlying: error)
            default:
                return StoreError(.storage, "PostgreSQL at \(location) failed: \(error)", underlying: error)
            }
        }
        return StoreError(.unavailable, "PostgreSQL at \(location): \(error); check that the server runs and is reachable", underlying: error)
    }

    /// Runs a read on a connection of the pool, mapping its failures. Waiting for the connection is
    /// bounded by ``Options/connectTimeout`` (the pool would otherwise wait for the server to come
    /// back): then UNAVAILABLE. The read itself is not bounded.
    func reading<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        let client = self.client, timeout = options.connectTimeout
        let leased = LeaseFlag()
        do {
            return try await withThrowingTaskGroup(of: R?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        leased.set()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    if !leased.isSet { throw LeaseTimeout() }
                    return nil
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw CancellationError()
            }
        } catch {
            throw mapped(error)
        }
    }
}
