import Logging
import LongrunDomain
import LongrunStore
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

    public init(collection: CollectionName = .root, id: String? = nil, metadata: Payload? = nil,
                requestID: String? = nil, cancellation: CancellationPolicy = .default) {
        self.collection = collection
        self.id = id
        self.metadata = metadata
        self.requestID = requestID
        self.cancellation = cancellation
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
/// Call ``run()`` (for example in a `ServiceGroup`) to enforce cancel grace periods, and
/// ``close()`` before the process exits.
public final class LongrunEngine: Sendable {
    public struct Configuration: Sendable {
        public var durability: Durability = .full
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
        /// Take a snapshot once this many events were committed since the last one (nil: never by count).
        public var snapshotEveryEvents: UInt64? = 100_000
        /// Take a snapshot this long after the last one if anything was committed (nil: never by time).
        public var snapshotInterval: Duration? = .seconds(3600)
        /// Snapshots kept; older ones are removed after each new one.
        public var snapshotsKept = 3
        /// How long done operations are kept, by outcome; expired ones stay in the history.
        public var retention: RetentionPolicy = .keepForever
        /// Drop log events that are covered by a snapshot and older than this (nil: keep the whole log).
        /// History and watch requests that reach before the retained log then get OUT_OF_RANGE.
        public var compactLogOlderThan: Duration?
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
    let clock: any WallClock
    let logger: Logger
    let integrity: IntegrityMonitor

    /// Opens (creating if absent) the store in `directory`, replaying the log into the views if they
    /// are behind, and starts the writer.
    public convenience init(directory: String, configuration: Configuration = .init(), clock: any WallClock = SystemWallClock(), logger: Logger) throws {
        var storeConfiguration = Store.Configuration()
        storeConfiguration.initialMapSize = configuration.initialMapSize
        storeConfiguration.maximumMapSize = configuration.maximumMapSize
        if case .relaxed = configuration.durability { storeConfiguration.syncOnCommit = false }
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
        self.writer = GroupCommitWriter(
            store: store, clock: clock, waiters: waiters, integrity: integrity, logger: logger,
            maximumBatchSize: configuration.maximumBatchSize,
            defaultCancelGrace: configuration.defaultCancelGrace, retention: configuration.retention, syncInterval: syncInterval,
            hostName: configuration.hostName
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
            throw DomainError(.failedPrecondition, reason: "NOT_ON_THIS_BACKEND",
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

    // MARK: Producer side

    /// Creates an operation (done = false). With a request id seen before in the collection, returns
    /// that operation instead and appends nothing.
    public func create(_ request: CreateRequest, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.create(request), actor: actor, access: access)
    }

    /// Replaces the metadata of a running operation. The result's ``OperationState/cancelRequest``
    /// tells the producer whether cancellation was requested.
    public func progress(_ name: OperationName, metadata: Payload?, expectedVersion: UInt64? = nil, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.progress(.init(name: name, metadata: metadata, expectedVersion: expectedVersion))), actor: actor, access: access)
    }

    /// Completes a running operation with a response or an error.
    public func complete(_ name: OperationName, outcome: Outcome, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.complete(name: name, outcome: outcome)), actor: actor, access: access)
    }

    /// A producer transition, for callers that queue many without awaiting each (streams).
    public enum Transition: Sendable {
        case create(CreateRequest)
        case progress(OperationName, metadata: Payload?, expectedVersion: UInt64?)
        case complete(OperationName, Outcome)
    }

    /// Queues `transition` now, so transitions are applied in call order, and calls `completion`
    /// after its commit. `completion` runs on the writer's thread and must return quickly.
    public func enqueue(_ transition: Transition, actor: Actor, access: Access = .unrestricted, completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) {
        let request: WriteRequest = switch transition {
        case .create(let create): .create(create)
        case .progress(let name, let metadata, let expected): .command(.progress(.init(name: name, metadata: metadata, expectedVersion: expected)))
        case .complete(let name, let outcome): .command(.complete(name: name, outcome: outcome))
        }
        writer.enqueue(request, actor: actor, access: access, completion: completion)
    }

    // MARK: Consumer side

    /// Requests cancellation. Succeeds without appending anything if the operation is done or a
    /// cancel was already requested.
    public func cancel(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.cancel(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Keeps an operation from expiring under the retention policy until released. Idempotent.
    public func hold(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.hold(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Lets a held operation expire again. Idempotent.
    public func release(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.release(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Deletes an operation: it is no longer served, but its history stays. Does not cancel it.
    public func delete(_ name: OperationName, actor: Actor, access: Access = .unrestricted) async throws {
        _ = try await writer.submit(.command(.delete(name: name)), actor: actor, access: access)
    }

    /// The current state of a live operation; NOT_FOUND if unknown or deleted; PERMISSION_DENIED,
    /// checked first, if `access` may not read it.
    public func get(_ name: OperationName, access: Access = .unrestricted) async throws -> OperationState {
        let state = try await read { try await $0.operation(name) }
        try access.requireRead(state, name)
        return try Lifecycle.requireLive(state, name)
    }

    /// One page of a collection's operations in creation order (AIP-158, AIP-160).
    /// With owner-only `access`, only the caller's own operations.
    public func list(_ request: ListRequest, access: Access = .unrestricted) async throws -> ListResponse {
        let collection = try CollectionName(listName: request.name)
        let filter: Filter
        do { filter = try Filter(parsing: request.filter) } catch {
            throw DomainError(.invalidArgument, reason: "INVALID_FILTER", error.message)
        }
        let pageSize = try ListRequest.effectivePageSize(request.pageSize)
        let binding = PageToken.binding(collection.description, filter.canonical)
        let after = request.pageToken.isEmpty ? 0 : try PageToken(decoding: request.pageToken, expectedBinding: binding).position
        let page = try await read { store in
            try await store.list(ListQuery(collection: collection, filter: filter, afterCreateSequence: after, pageSize: pageSize,
                                      creatorUID: access.listsOnlyUID))
        }
        return ListResponse(
            operations: page.operations,
            nextPageToken: page.resumeAfter.map { PageToken(position: $0, binding: binding).encoded } ?? ""
        )
    }

    /// The transitions of one operation, deleted ones included, oldest first.
    public func history(of name: OperationName, pageSize: Int32 = 0, pageToken: String = "", access: Access = .unrestricted) async throws -> HistoryPage {
        let size = try ListRequest.effectivePageSize(pageSize)
        let binding = PageToken.binding("history", name.description)
        let after = pageToken.isEmpty ? 0 : try PageToken(decoding: pageToken, expectedBinding: binding).position
        return try await read { store in
            let state = try await store.operation(name)
            try access.requireRead(state, name)
            guard let state else { throw DomainError(.notFound, reason: "OPERATION_NOT_FOUND", "operation \(name) has no history: it never existed") }
            if let tail = try await store.logTail(), state.createSequence < tail, after + 1 < tail {
                throw DomainError(.outOfRange, reason: "HISTORY_COMPACTED",
                                  "the log keeps events from sequence \(tail) on; the earlier history of \(name) was compacted. Its current state is still served by GetOperation")
            }
            var events = try await store.events(of: name, after: after, limit: size + 1)
            var next = ""
            if events.count > size {
                events.removeLast()
                next = PageToken(position: events.last!.sequence, binding: binding).encoded
            }
            return HistoryPage(events: events, nextPageToken: next)
        }
    }

    /// Returns as soon as the operation is done, or its current state when `timeout` passes
    /// (nil: no timeout; the caller's task cancellation ends the wait). NOT_FOUND if it is
    /// unknown or gets deleted. Throws `CancellationError` if the calling task is cancelled.
    public func wait(_ name: OperationName, timeout: Duration?, access: Access = .unrestricted) async throws -> OperationState {
        let deadline = timeout.map { ContinuousClock.now + max($0, .zero) }
        while true {
            // The sequence first, then the state: the state is at least that new, so a change
            // after it has a later sequence and wakes this waiter.
            let (seen, state) = try await read { store in (try await store.appliedSequence(), try await store.operation(name)) }
            try access.requireRead(state, name)
            let live = try Lifecycle.requireLive(state, name)
            if live.done { return live }
            switch await waiters.waitForChange(of: name, after: seen, deadline: deadline) {
            case .changed:
                continue
            case .timedOut:
                return try await get(name)
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    // MARK: The log

    /// Up to `limit` events of the log after `sequence`, oldest first.
    /// OUT_OF_RANGE if `sequence` is beyond the head or older than what the log retains.
    public func events(after sequence: UInt64, limit: Int) async throws -> [Event] {
        try await read { store in
            let head = try await store.appliedSequence()
            guard sequence <= head else {
                throw DomainError(.outOfRange, reason: "SEQUENCE_AHEAD_OF_LOG",
                                  "sequence \(sequence) is beyond the newest event \(head); resume from \(head) or earlier")
            }
            if let tail = try await store.logTail(), sequence + 1 < tail {
                throw DomainError(.outOfRange, reason: "SEQUENCE_COMPACTED",
                                  "events up to \(tail - 1) were compacted; the log starts at \(tail). Re-read current state with ListOperations and watch from \(tail - 1)")
            }
            return try await store.events(after: sequence, limit: limit)
        }
    }

    /// Returns once an event after `sequence` is committed (at once if one already is). Throws
    /// `CancellationError` when the task is cancelled or the engine closes.
    public func waitForCommit(after sequence: UInt64) async throws {
        if case .cancelled = await waiters.waitForCommit(after: sequence) { throw CancellationError() }
    }

    /// The state `name` had right after the event at `sequence`; nil if it did not exist yet.
    /// OUT_OF_RANGE if its early events were compacted.
    public func state(of name: OperationName, at sequence: UInt64) async throws -> OperationState? {
        try await read { try await $0.state(of: name, at: sequence) }
    }

    /// The state of `name` as the views hold it now, deleted ones included; nil if it never existed.
    public func operationIncludingDeleted(_ name: OperationName) async throws -> OperationState? {
        try await read { try await $0.operation(name) }
    }

    // MARK: Background work

    /// Completes with CANCELLED every operation whose cancel grace has elapsed; returns when the next
    /// one is due, if any.
    @discardableResult
    public func enforceCancelGrace() async throws -> Timestamp? {
        let integrity = self.integrity
        let (due, next) = try await read { try await $0.cancelDeadlines(dueBy: clock.now(), limit: 1000, damaged: { integrity.noteDamagedRead($0) }) }
        try await submitAsEngine(due.map { .enforceCancelGrace(name: $0) })
        return due.count == 1000 ? clock.now() : next
    }

    /// With ``Configuration/compactLogOlderThan`` set: drops the log's events through the newest
    /// snapshot whose events are all older than that. Returns how many were dropped.
    @discardableResult
    public func compactLogIfDue() async throws -> UInt64 {
        guard let age = configuration.compactLogOlderThan else { return 0 }
        let store = try requireLMDB("log compaction"), now = clock.now()
        return try await onDedicatedThread {
            guard let cutoff = try store.read({ try $0.lastSequence(atOrBefore: now - age) }),
                  let snapshot = try store.usableSnapshot(upTo: cutoff),
                  let tail = try store.read({ try $0.logTail() }), snapshot.sequence >= tail
            else { return 0 }
            return try store.compactLog(through: snapshot.sequence)
        }
    }

    /// Expires every done operation whose time to live has passed; returns how many.
    @discardableResult
    public func enforceRetention() async throws -> Int {
        guard !configuration.retention.keepsEverything else { return 0 }
        let integrity = self.integrity, retention = configuration.retention
        let due = try await read { try await $0.expiredByRetention(retention, now: clock.now(), limit: 1000, damaged: { integrity.noteDamagedRead($0) }) }
        try await submitAsEngine(due.map { .expire(name: $0) })
        return due.count
    }

    /// Submits the engine's own commands all at once, so they share commits, and waits for them.
    private func submitAsEngine(_ commands: [Command]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for command in commands {
                group.addTask { _ = try await self.writer.submit(.command(command), actor: .engine, access: .unrestricted) }
            }
            try await group.waitForAll()
        }
    }

    /// Enforces cancel grace periods, takes scheduled snapshots and runs the background integrity
    /// scrub until the task is cancelled. Deadlines are met within a second.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.runScrubs() }
            group.addTask { try await self.runMaintenance() }
        }
    }

    private func runMaintenance() async throws {
        var lastSnapshot = (sequence: try lmdb?.usableSnapshot(upTo: .max, checkContents: false)?.sequence ?? 0, at: ContinuousClock.now)
        while !Task.isCancelled {
            if lmdb != nil, let applied = try? await appliedSequence(), snapshotDue(applied: applied, last: lastSnapshot) {
                do {
                    let info = try await takeSnapshot()
                    lastSnapshot = (info.sequence, ContinuousClock.now)
                    let dropped = try await compactLogIfDue()
                    if dropped > 0 { logger.notice("compacted the log", metadata: ["events": "\(dropped)"]) }
                } catch {
                    logger.error("scheduled snapshot failed; retrying at the next interval", metadata: ["error": "\(error)"])
                    lastSnapshot.at = ContinuousClock.now
                }
            }
            var next: Timestamp?
            do {
                next = try await enforceCancelGrace()
                if try await enforceRetention() == 1000 { next = clock.now() }
            } catch {
                logger.error("enforcing cancel grace or retention failed; retrying", metadata: ["error": "\(error)"])
            }
            var pause = Duration.seconds(1)
            if let next { pause = min(pause, max(next - clock.now(), .milliseconds(1))) }
            do { try await Task.sleep(for: pause) } catch { return }
        }
    }

    // MARK: Snapshots

    /// Writes a snapshot of the views as of the last commit into the data directory's `snapshots/`
    /// and keeps the newest ``Configuration/snapshotsKept``. One at a time: FAILED_PRECONDITION if
    /// one is being written. Runs on a thread of its own; the engine keeps serving meanwhile.
    public func takeSnapshot() async throws -> SnapshotFile.Info {
        guard snapshotting.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw DomainError(.failedPrecondition, reason: "SNAPSHOT_IN_PROGRESS", "a snapshot is being written; retry when it is done")
        }
        defer { snapshotting.withLock { $0 = false } }
        let store = try requireLMDB("a snapshot"), keep = configuration.snapshotsKept, created = clock.now().nanosecondsSinceEpoch
        let started = ContinuousClock.now
        let info = try await onDedicatedThread { try SnapshotFile.write(store, into: store.snapshotDirectory, keep: keep, createdUnixNanos: created) }
        logger.notice("snapshot written", metadata: [
            "sequence": "\(info.sequence)", "bytes": "\(info.sizeBytes)", "path": "\(info.path)", "took": "\(ContinuousClock.now - started)",
        ])
        return info
    }

    private let snapshotting = Mutex(false)

    /// Whether the schedule calls for a snapshot now, given the last one's sequence and time.
    func snapshotDue(applied: UInt64, last: (sequence: UInt64, at: ContinuousClock.Instant)) -> Bool {
        guard applied > last.sequence else { return false }
        if let every = configuration.snapshotEveryEvents, applied - last.sequence >= every { return true }
        if let interval = configuration.snapshotInterval, ContinuousClock.now - last.at >= interval { return true }
        return false
    }

    // MARK: Introspection

    /// Group-commit counters since open.
    public var writerStatistics: WriterStatistics { writer.statistics }
    /// True while writes are refused because the store reached its maximum size or the disk is
    /// full: set when a write batch fails with `StoreError.Kind.resourceExhausted`, cleared by the
    /// next successful commit. Cheap (one lock), for health checks.
    public var writesRefused: Bool { writer.isRefusingWrites }
    /// Callers currently suspended in ``wait(_:timeout:)``.
    public var waiterCount: Int { waiters.waiterCount }
    /// Sequence of the newest committed event.
    public func appliedSequence() async throws -> UInt64 { try await store.appliedSequence() }
}
