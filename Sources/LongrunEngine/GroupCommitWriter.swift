import Logging
import LongrunDomain
import LongrunStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Counters of the writer's work since open; the ratio transitions/commits is the group-commit gain.
public struct WriterStatistics: Sendable, Equatable {
    /// Write transactions committed.
    public var commits: UInt64 = 0
    /// Commands answered (accepted or rejected).
    public var commands: UInt64 = 0
    /// Events appended.
    public var transitions: UInt64 = 0
    /// Explicit syncs in `relaxed` durability.
    public var syncs: UInt64 = 0
}

/// The one owner of the write transaction.
///
/// Callers from any task submit the domain's command, named (a create's id chosen or drawn by the
/// engine), and suspend. A dedicated thread takes every command waiting (up to a batch limit),
/// decides and appends them all in one transaction, commits once (one fsync in `full`
/// durability), then wakes the waiters of the operations that changed and resumes each caller with
/// its own result. A lone unary write may be committed by its caller instead
/// (``offer(_:actor:access:leading:completion:)``), one batch at a time all the same, and answered
/// once durable, before its commit is visible (reads wait for that). A command the
/// lifecycle rejects fails alone; a storage
/// failure (a full store or disk included) fails the whole batch, nothing of it is committed, and
/// the writer goes on with the next batch.
final class GroupCommitWriter: Sendable {
    fileprivate struct Job: Sendable {
        let command: Command
        let actor: Actor
        let access: Access
        let completion: @Sendable (Result<Written, any Error>) -> Void
    }

    /// A request's result: the operation's state after its batch, and how many events it appended
    /// (0: the command changed nothing, e.g. a cancel of a done operation).
    struct Written: Sendable {
        var state: OperationState
        var appended: Int
    }

    private let store: any OperationStore
    private let clock: any WallClock
    private let waiters: WaiterRegistry
    private let integrity: IntegrityMonitor
    private let logger: Logger
    private let maximumBatchSize: Int
    private let defaultCancelGrace: Duration
    private let retention: RetentionPolicy
    /// In `relaxed` durability, how often commits are synced; nil in `full`.
    private let syncInterval: Duration?
    private let queue = WorkQueue<Job>()
    private let thread: Mutex<pthread_t?> = Mutex(nil)
    private let stats = Mutex(WriterStatistics())
    /// Whether the last batch failed because the store is full (logged once per episode).
    private let storeFull = Mutex(false)
    /// Told of each committed batch (the daemon's metrics); nil costs one lock per commit.
    let commitObserver = Mutex<ObserverSlot<CommitSample>?>(nil)

    /// The host stamped on every actor this writer records (``LongrunEngine/Configuration/hostName``).
    private let hostName: String?
    /// When the engine started (``Lifecycle/Context/engineStart``).
    private let engineStart: Timestamp

    init(store: any OperationStore, clock: any WallClock, waiters: WaiterRegistry, integrity: IntegrityMonitor, logger: Logger,
         maximumBatchSize: Int, defaultCancelGrace: Duration, retention: RetentionPolicy, syncInterval: Duration?, hostName: String?,
         engineStart: Timestamp) {
        self.hostName = hostName
        self.engineStart = engineStart
        self.store = store
        self.clock = clock
        self.waiters = waiters
        self.integrity = integrity
        self.logger = logger
        self.maximumBatchSize = maximumBatchSize
        self.defaultCancelGrace = defaultCancelGrace
        self.retention = retention
        self.syncInterval = syncInterval
    }

    var statistics: WriterStatistics { stats.withLock { $0 } }

    /// True from a batch refused because the store or disk is full until the next commit succeeds.
    var isRefusingWrites: Bool { storeFull.withLock { $0 } }

    func start() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            let writer = Unmanaged<GroupCommitWriter>.fromOpaque(argument!).takeRetainedValue()
            writer.runLoop()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "cannot start the writer thread: \(rc)")
        thread.withLock { $0 = handle }
    }

    /// Submits `command` and returns its result once its batch is committed.
    func submit(_ command: Command, actor: Actor, access: Access) async throws -> OperationState {
        try await submitCounting(command, actor: actor, access: access).state
    }

    /// ``submit(_:actor:access:)``, with the number of events the command appended.
    func submitCounting(_ command: Command, actor: Actor, access: Access) async throws -> Written {
        try await withCheckedThrowingContinuation { continuation in
            if !tryEnqueue(command, actor: actor, access: access, completion: { continuation.resume(with: $0) }) {
                continuation.resume(throwing: Self.closedError)
            }
        }
    }

    /// Queues `command` now, in call order, and calls `completion` on the writer's thread once its
    /// batch is committed (or rejected). `completion` must not block.
    func enqueue(_ command: Command, actor: Actor, access: Access, completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) {
        if !tryEnqueue(command, actor: actor, access: access, completion: { completion($0.map(\.state)) }) {
            completion(.failure(Self.closedError))
        }
    }

    /// Queues `command` as ``enqueue(_:actor:access:completion:)`` does; false, without calling
    /// `completion`, once the writer is shut down (so a caller holding a lock can fail it after).
    func tryEnqueue(_ command: Command, actor: Actor, access: Access, completion: @escaping @Sendable (Result<Written, any Error>) -> Void) -> Bool {
        queue.push(Job(command: command, actor: actor, access: access, completion: completion))
    }

    /// A command its caller commits (``offer(_:actor:access:leading:completion:)``).
    struct Led: Sendable {
        fileprivate let job: Job
    }

    enum Offer: Sendable {
        case queued
        case closed
        /// The command was alone (``WorkQueue/pushOrLead(_:)``): the caller commits it with
        /// ``commit(_:)-(Led)``, and commands arriving meanwhile queue behind it.
        case lead(Led)
    }

    /// Queues `command` as ``tryEnqueue(_:actor:access:completion:)`` does, unless `leading` and the
    /// command is alone (``WorkQueue/pushOrLead(_:)``): then the caller commits it on its own thread
    /// (``commit(_:)-(Led)``), so that a lone caller makes no hand-off to the writer's thread and
    /// back (two thread wake-ups per call). In `full` durability only: in `relaxed` the writer's
    /// thread keeps the sync interval.
    func offer(_ command: Command, actor: Actor, access: Access, leading: Bool,
               completion: @escaping @Sendable (Result<Written, any Error>) -> Void) -> Offer {
        let job = Job(command: command, actor: actor, access: access, completion: completion)
        guard leading, syncInterval == nil else { return queue.push(job) ? .queued : .closed }
        switch queue.pushOrLead(job) {
        case .queued: return .queued
        case .closed: return .closed
        case .lead: return .lead(Led(job: job))
        }
    }

    /// Commits a command ``offer(_:actor:access:leading:completion:)`` left to its caller, on the
    /// caller's thread, which blocks for the commit's flush; its completion runs before this returns.
    /// What queued meanwhile then goes to the writer's thread as the next batch.
    func commit(_ led: Led) {
        let answeredAt = commit([led.job], answeringEarly: true)
        queue.finishBatch(answeredAt: answeredAt)
    }

    /// What a command queued after ``shutdown()`` fails with.
    static let closedError = StoreError(.closed, "the engine is shutting down; retry against the restarted daemon")

    /// Stops taking requests, commits what is queued, syncs, and joins the thread.
    func shutdown() {
        queue.close()
        if let handle = thread.withLock({ value -> pthread_t? in defer { value = nil }; return value }) {
            pthread_join(handle, nil)
        }
    }

    // MARK: The writer thread

    private func runLoop() {
        var unsynced = false
        let intervalNanoseconds = syncInterval.map { max($0.nanoseconds, 1_000_000) }
        var lastSync = monotonicNanoseconds()
        while true {
            let timeout: Int64? = unsynced ? intervalNanoseconds.map { max(0, lastSync + $0 - monotonicNanoseconds()) } : nil
            guard let batch = queue.drain(maximum: maximumBatchSize, timeoutNanoseconds: timeout) else { break }
            if !batch.isEmpty {
                commit(batch)
                queue.finishBatch()
                unsynced = syncInterval != nil
            }
            if unsynced, let interval = intervalNanoseconds, monotonicNanoseconds() - lastSync >= interval {
                syncNow()
                unsynced = false
                lastSync = monotonicNanoseconds()
            }
        }
        if unsynced { syncNow() }
    }

    private func syncNow() {
        do {
            try store.sync()
            stats.withLock { $0.syncs += 1 }
        } catch {
            logger.error("periodic sync failed; commits since the last sync are not yet durable", metadata: ["error": "\(error)"])
        }
    }

    /// Commits `batch` and answers it. `answeringEarly` (a led command): answered once the batch
    /// is durable, before it is visible, if nobody waits for what it changes
    /// (``OperationStore/write(footprint:answering:_:)``); the caller, an event loop, flushes the
    /// answer before the store's commit takes its thread. Returns when it was answered so
    /// (monotonic nanoseconds), nil when it was answered after its commit.
    @discardableResult
    private func commit(_ batch: [Job], answeringEarly: Bool = false) -> Int64? {
        let now = clock.now()
        // What the batch reads, known before the transaction, so that a backend that loads it first
        // (PostgreSQL) has it all. Every command is named by now: a create's id was chosen or drawn
        // before it was queued. (Hashing every name was 3% of the writer's time on LMDB, which
        // reads none of it.)
        var footprint = BatchFootprint()
        if store.readsFootprint {
            for job in batch {
                footprint.operations.insert(job.command.name)
                if case .create(let create) = job.command, let requestID = create.requestID {
                    footprint.requestIDs.insert(.init(create.name.collection, requestID))
                }
            }
        }
        let started = ContinuousClock.now
        var answeredAt: Int64?
        var answered: Bool { answeredAt != nil }
        let answer: ((BatchOutcome) -> Bool)? = answeringEarly ? { [waiters] outcome in
            // Waiters first (below): a batch someone waits on answers after its commit.
            guard !waiters.isAwaited(outcome.changed) else { return false }
            answeredAt = monotonicNanoseconds()
            for (job, result) in zip(batch, outcome.results) { job.completion(result) }
            return true
        } : nil
        do {
            let outcome = try store.write(footprint: footprint, answering: answer) { writer -> BatchOutcome in
                var results: [Result<Written, any Error>] = []
                results.reserveCapacity(batch.count)
                var changed: [OperationName] = []
                var transitions = 0
                for job in batch {
                    do {
                        let (state, events) = try execute(job, writer: writer, now: now)
                        if events > 0 {
                            changed.append(state.name)
                            transitions += events
                        }
                        results.append(.success(Written(state: state, appended: events)))
                    } catch let error as DomainError {
                        results.append(.failure(error))
                    } catch let error as StoreError where error.damage != nil {
                        // A damaged record fails only the command that read it (before it wrote
                        // anything): the rest of the batch, other operations, commit as usual.
                        integrity.noteDamagedRead(error)
                        results.append(.failure(error))
                    }
                }
                return BatchOutcome(results: results, head: writer.head, changed: changed, transitions: transitions)
            }
            stats.withLock {
                $0.commits += 1
                $0.commands += UInt64(batch.count)
                $0.transitions += UInt64(outcome.transitions)
            }
            if let observer = commitObserver.withLock({ $0 }) {
                observer.observe(CommitSample(commands: batch.count, transitions: outcome.transitions, duration: ContinuousClock.now - started))
            }
            // Waiters first: a batch's answers then leave after its wake-ups, so that whoever is
            // told of a change (a producer's completion acknowledged) is never told before those
            // waiting for it. (10,000 waiters woken by one pipelined stream of completions: wake-ups
            // over 50 ms after their completion's acknowledgement 9-1,161 of 10,000 before, 0-234
            // after, six runs each; BENCHMARKS.md, W7.)
            waiters.notify(committedThrough: outcome.head, changed: outcome.changed)
            if !answered {
                for (job, result) in zip(batch, outcome.results) { job.completion(result) }
            }
            if storeFull.withLock({ full in defer { full = false }; return full }) {
                logger.notice("the store has room again: writes are committed again")
            }
        } catch where answered {
            // Answered, then not committed: the store refuses reads and writes until it is opened
            // again, which applies the batch from its journal (the store logged it).
            logger.error("a batch answered before its commit could not be committed", metadata: ["error": "\(error)"])
        } catch let error as StoreError where error.kind == .resourceExhausted {
            // Every batch fails the same way until there is room: say so once, not per batch.
            let first = storeFull.withLock { full in defer { full = true }; return !full }
            logger.log(level: first ? .error : .debug, "the store is full: write batches are refused until there is room; reads keep working",
                       metadata: ["error": "\(error)", "commands": "\(batch.count)"])
            for job in batch { job.completion(.failure(error)) }
        } catch {
            logger.error("write transaction failed; every command of the batch is rejected", metadata: [
                "error": "\(error)", "commands": "\(batch.count)",
            ])
            for job in batch { job.completion(.failure(error)) }
        }
        return answeredAt
    }

    /// What a batch's transaction returns: each command's result, the head after it, the
    /// operations it changed and the events it appended.
    private struct BatchOutcome {
        var results: [Result<Written, any Error>]
        var head: UInt64
        var changed: [OperationName]
        var transitions: Int
    }

    /// Decides one command against the transaction's current state and appends its events.
    private func execute(_ job: Job, writer: any BatchWriting, now: Timestamp) throws -> (OperationState, events: Int) {
        let reader = writer
        let command = job.command
        var prior: OperationState?
        if case .create(let create) = command {
            // A generated id is time-ordered and random within its millisecond: taken only if another
            // host drew the same id then.
            if create.requestedID == nil, try reader.operation(create.name) != nil {
                throw DomainError(.aborted, reason: .generatedIDTaken, "the generated id \(create.name.id) is taken; retry the create")
            }
            if let requestID = create.requestID {
                prior = try reader.operation(forRequestID: requestID, in: create.name.collection)
            }
        }
        var actor = job.actor
        if actor.host == nil { actor.host = hostName }
        let context = Lifecycle.Context(now: now, actor: actor, defaultCancelGrace: defaultCancelGrace,
                                        priorForRequestID: prior, retention: retention, access: job.access,
                                        engineStart: engineStart)
        let current = try reader.operation(command.name)
        let decision = try Lifecycle.decide(command, state: current, context: context)
        // The state decided on is the one folded: no operation is read and decoded twice.
        var state = decision.subject == command.name ? current : try reader.operation(decision.subject)
        if !decision.events.isEmpty {
            state = try writer.append(decision.events, name: decision.subject, time: now, current: state).state
        }
        guard let state else {
            throw StoreError(.dataLoss, "operation \(decision.subject) has no view right after its transition")
        }
        return (state, decision.events.count)
    }
}

func monotonicNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
