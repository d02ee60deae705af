public import Logging
public import LongrunDomain
public import LongrunStore
import Synchronization

/// What a producer asks for when it creates an operation.
public struct CreateRequest: Hashable, Sendable {
    public var collection: CollectionName
    /// Caller-chosen id; nil lets the engine generate a unique, time-ordered one.
    public var id: String?
    public var metadata: Payload?
    /// Idempotency key (AIP-155): a repeat returns the first result and appends nothing.
    public var requestID: String?
    public var cancellation: CancellationPolicy
    /// Hold the operation under a lease of this TTL: unless a progress, heartbeat or adoption
    /// renews it in time, the engine completes the operation with ABORTED. Nil: no lease.
    public var leaseTTL: Duration?

    public init(collection: CollectionName = .root, id: String? = nil, metadata: Payload? = nil,
                requestID: String? = nil, cancellation: CancellationPolicy = .default, leaseTTL: Duration? = nil) {
        self.leaseTTL = leaseTTL
        self.collection = collection
        self.id = id
        self.metadata = metadata
        self.requestID = requestID
        self.cancellation = cancellation
    }

    /// The domain's create for this request, once the operation is named (by ``id``, or generated).
    func command(named name: OperationName) -> Command.Create {
        Command.Create(name: name, metadata: metadata, requestID: requestID, cancellation: cancellation, requestedID: id, leaseTTL: leaseTTL)
    }
}

/// How commits reach the disk.
public enum Durability: Hashable, Sendable, CustomStringConvertible {
    /// fsync at every commit before any caller is answered: nothing acknowledged is ever lost.
    case full
    /// No fsync per commit; the writer syncs at most `syncInterval` after a commit. A crash of the
    /// process loses nothing (committed pages are in the OS page cache); a crash of the operating
    /// system or a power loss loses at most the commits acknowledged during the last `syncInterval`.
    case relaxed(syncInterval: Duration)

    public var description: String {
        switch self {
        case .full: "full"
        case .relaxed(let interval): "relaxed(sync every \(interval))"
        }
    }
}

/// The embeddable Longrun engine: the store, the group-commit writer and the waiters.
///
/// Mutations go through the single writer and return after their commit; reads (get, list,
/// history) run on the caller's task in their own LMDB read transaction and never wait for writes.
/// Call ``run()`` (for example in a `ServiceGroup`) to enforce cancel grace periods and leases, and
/// ``close()`` before the process exits.
public final class LongrunEngine: Sendable {
    public struct Configuration: Sendable {
        public var durability: Durability = .full
        /// With `full` durability on LMDB, the size of the write-ahead journal that makes a commit
        /// durable with one flush instead of LMDB's two (see docs/FORMAT.md, "Journal"); 0 leaves
        /// the flushes to LMDB.
        public var journalSize = 64 << 20
        /// How long a cooperative producer has to complete after a cancel request before the engine
        /// completes the operation with CANCELLED, unless the operation set its own.
        public var defaultCancelGrace: Duration = Lifecycle.defaultCancelGrace
        /// Most commands committed in one transaction.
        public var maximumBatchSize = 1024
        public var initialMapSize = 64 << 20
        /// The largest the data file may grow (LMDB's map). A write that needs more fails with
        /// `StoreError` `.resourceExhausted` (RESOURCE_EXHAUSTED, reason `STORE_FULL`), as does one on
        /// a full disk; reads keep working, and writes resume once there is room (a larger maximum
        /// takes a reopen, freed disk space does not).
        public var maximumMapSize = 64 << 30
        /// Take a snapshot once the log written since the last one is this many times the size of
        /// the snapshot to write (the records it would hold: of a differential, those of the
        /// operations changed since its base; at the last snapshot's bytes per record),
        /// and at least ``snapshotMinimumLogBytes`` (nil: never by size). At 4, the bytes snapshots write
        /// stay within a quarter of what the log writes, whatever the store's size: a full snapshot copies
        /// every operation's record, so a fixed cadence would rewrite a large store over and over.
        /// Restarts do not need snapshots (the log checkpoint bounds the start-up check); they bound
        /// the replay when views are lost, and where the log may be compacted.
        public var snapshotLogRatio: Double? = 4
        /// The least log growth that makes a snapshot due by ``snapshotLogRatio``.
        public var snapshotMinimumLogBytes: UInt64 = 64 << 20
        /// Take a snapshot once this many events were committed since the last one (nil: never by count).
        public var snapshotEveryEvents: UInt64?
        /// Take a snapshot this long after the last one if anything was committed (nil: never by time).
        public var snapshotInterval: Duration?
        /// How often the log written since the last checkpoint is read back and checked, moving the
        /// checkpoint that start-up checks from (nil: only whole-log checks, at start and by the scrub,
        /// move it).
        public var logCheckpointInterval: Duration? = .seconds(10)
        /// Check the log sooner than ``logCheckpointInterval`` once this many events were committed
        /// since the last check (looked at about once a second; nil: by time only). Bounds what a
        /// start after load checks by the work, not the clock: at 6,000 transitions/s, ten seconds of
        /// log took a start 80–105 ms to check. The start-up check covers what was written after
        /// the last check, so a log changed while the daemon was stopped is refused at start only
        /// there; the background scrub checks the rest.
        public var logCheckpointEvents: UInt64? = 4096
        /// Restore points kept (a full snapshot, or a differential with its base, which is kept as
        /// long as a kept differential needs it); older ones are removed after each new one.
        public var snapshotsKept = 3
        /// Write a differential snapshot (the records of only the operations changed since the newest
        /// full snapshot) instead of a full one when fewer than half the records changed since that
        /// one. Off: every snapshot is full (as builds before differentials, which ignore them, need).
        public var snapshotDifferentials = true
        /// How long done operations are kept, by outcome; expired ones stay in the history.
        public var retention: RetentionPolicy = .keepForever
        /// Drop log events that are covered by a snapshot and older than this (nil: keep the whole log).
        /// History and watch requests that reach before the retained log then get OUT_OF_RANGE. A
        /// snapshot is then also taken once the last is this old (and ``snapshotMinimumLogBytes`` of
        /// log were written since), so compaction always has one to go through.
        public var compactLogOlderThan: Duration?
        /// How often the background work compacts what ``compactLogOlderThan`` allows (a snapshot
        /// becomes usable for compaction only once it is that old).
        public var compactionCheckInterval: Duration = .seconds(60)
        /// How often a background scrub pass checks the whole store (nil: only on demand). Each pass
        /// is throttled to ``scrubShare`` of one core.
        public var scrubInterval: Duration? = .seconds(86_400)
        /// The fraction of one core a background scrub pass may use.
        public var scrubShare = 0.03
        /// How long after opening the first background pass starts.
        public var scrubFirstDelay: Duration = .seconds(60)
        /// Recorded as the host of every transition this engine commits (the daemon's host name),
        /// so that events of several hosts sharing one store say where they were made. Nil: none.
        public var hostName: String?
        /// The message types List, Watch and the bulk calls' filters may reach into
        /// (`metadata.percent_done > 50`): the well-known ones, and the daemon's `--descriptor-set`s.
        public var payloadSchemas: PayloadSchemas = .wellKnown

        public init() {}
    }

    /// Where the store lives: the data directory (LMDB) or the database (PostgreSQL).
    public let location: String
    public let configuration: Configuration
    /// The storage seam every read and write goes through.
    let store: any OperationStore
    /// The LMDB store when the engine runs on one: snapshots, compaction, scrub and repair work on
    /// its data directory. Nil on a shared backend, which keeps durability and integrity itself.
    let lmdb: Store?
    let writer: GroupCommitWriter
    let waiters: WaiterRegistry
    /// Told how long each woken waiter took to read the operation again (the daemon's metrics).
    let wakeObserver = Mutex<ObserverSlot<Duration>?>(nil)
    let clock: any WallClock
    let logger: Logger
    let integrity: IntegrityMonitor
    /// When this engine opened, by its clock: no lease expires sooner than its TTL after it.
    public let engineStart: Timestamp

    /// Opens (creating if absent) the store in `directory`, replaying the log into the views if they
    /// are behind, and starts the writer.
    public convenience init(directory: String, configuration: Configuration = .init(), clock: any WallClock = SystemWallClock(), logger: Logger) throws {
        var storeConfiguration = Store.Configuration()
        storeConfiguration.initialMapSize = configuration.initialMapSize
        storeConfiguration.maximumMapSize = configuration.maximumMapSize
        if case .relaxed = configuration.durability { storeConfiguration.syncOnCommit = false }
        storeConfiguration.journalSize = configuration.journalSize
        // A start after a crash flushes what the dead process left before its first write (tens of
        // milliseconds under load): reads need not wait for it.
        storeConfiguration.serveReadsWhileOpening = true
        let store = try Store(directory: directory, configuration: storeConfiguration, logger: logger)
        let applied = try store.read { try $0.appliedSequence() }
        self.init(store: store, lmdb: store, applied: applied, configuration: configuration, clock: clock, logger: logger)
    }

    /// Serves `store`, a backend other than the embedded LMDB one (PostgreSQL): snapshots, log
    /// compaction, scrub and repair are the backend's own business there and are refused here.
    /// The engine closes the store when it closes.
    public convenience init(store: any OperationStore, configuration: Configuration = .init(), clock: any WallClock = SystemWallClock(), logger: Logger) async throws {
        let applied = try await store.appliedSequence()
        self.init(store: store, lmdb: store as? Store, applied: applied, configuration: configuration, clock: clock, logger: logger)
    }

    private init(store: any OperationStore, lmdb: Store?, applied: UInt64, configuration: Configuration, clock: any WallClock, logger: Logger) {
        let waiters = WaiterRegistry(committedThrough: applied)
        var syncInterval: Duration?
        if case .relaxed(let interval) = configuration.durability { syncInterval = interval }
        let integrity = IntegrityMonitor(logger: logger)
        self.integrity = integrity
        let engineStart = clock.now()
        self.engineStart = engineStart
        self.writer = GroupCommitWriter(
            store: store, clock: clock, waiters: waiters, integrity: integrity, logger: logger,
            maximumBatchSize: configuration.maximumBatchSize,
            defaultCancelGrace: configuration.defaultCancelGrace, retention: configuration.retention, syncInterval: syncInterval,
            hostName: configuration.hostName, engineStart: engineStart
        )
        self.location = store.location
        self.configuration = configuration
        self.store = store
        self.lmdb = lmdb
        self.waiters = waiters
        self.clock = clock
        self.logger = logger
        writer.start()
        // Commits by other hosts sharing the store wake this host's waiters and watchers too.
        store.followCommits(after: applied) { [waiters] head, changed in waiters.notify(committedThrough: head, changed: changed) }
        logger.info("engine open", metadata: [
            "store": "\(store.location)", "applied_sequence": "\(applied)", "durability": "\(configuration.durability)",
        ])
    }

    /// The LMDB store, for what only it has (snapshots, compaction, scrub, repair); on another
    /// backend FAILED_PRECONDITION naming what to use instead.
    func requireLMDB(_ what: String) throws -> Store {
        guard let lmdb else {
            throw DomainError(.failedPrecondition, reason: .notOnThisBackend,
                              "\(what) works on the embedded LMDB store only; \(store.location) keeps its own durability and integrity (use the database's backups and checks)")
        }
        return lmdb
    }

    /// Checks, creating and changing nothing, that `directory` can be opened as a store: absent,
    /// empty, or holding a complete LMDB data file. Throws an error that says what is wrong and what
    /// to do. For a daemon to call before it takes the directory's lock.
    public static func checkDirectory(_ directory: String) throws {
        try Store.checkDirectory(directory)
    }

    /// Takes the data directory's owner lock (``Store/lockDirectory(_:)``), creating the directory
    /// if needed: one daemon serves a directory at a time, and offline tools that write wait their
    /// turn. Keep the returned lock alive for as long as the engine serves the directory.
    public static func lockDirectory(_ directory: String) throws -> DirectoryLock {
        try Store.lockDirectory(directory)
    }

    /// Stops accepting writes, commits what is queued, syncs, and wakes every waiter. Idempotent.
    public func close() {
        closed.withLock { $0 = true }
        writer.shutdown()
        waiters.cancelAll()
        store.close()
    }

    /// True once ``close()`` has begun: waits and watches that end now end because of it.
    public var isClosed: Bool { closed.withLock { $0 } }
    private let closed = Mutex(false)
    /// Set while a snapshot is being written: one at a time.
    let snapshotting = Mutex(false)
    /// Draws the ids of creates that chose none (the `enqueue` of a `CreateRequest`).
    let idGenerator = Mutex(OperationIDGenerator())

    // MARK: Introspection

    /// Group-commit counters since open.
    public var writerStatistics: WriterStatistics { writer.statistics }
    /// True while writes are refused because the store reached its maximum size or the disk is
    /// full: set when a write batch fails with `StoreError.Kind.resourceExhausted`, cleared by the
    /// next successful commit. Cheap (one lock), for health checks.
    public var writesRefused: Bool { writer.isRefusingWrites }
    /// True when the store's open failed to write after it had begun serving reads (the journal's
    /// first checkpoint, its entries applied): every write fails until longrund is restarted.
    public var openingFailed: Bool { lmdb?.openingFailure != nil }
    /// True when a write answered before its commit could not then be committed (a failing disk):
    /// every read and write fails until longrund is restarted, which applies it from the journal.
    public var commitFailed: Bool { lmdb?.commitFailure != nil }
    /// Callers currently suspended in ``wait(_:timeout:)``.
    public var waiterCount: Int { waiters.waiterCount }
    /// Sequence of the newest committed event.
    public func appliedSequence() async throws -> UInt64 { try await store.appliedSequence() }
}
