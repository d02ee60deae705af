public import LongrunDomain

/// The storage seam: everything the engine's writer, readers, waiters and maintenance ask of a
/// backend. Two implement it: ``Store`` (LMDB, embedded, one host) and the PostgreSQL store (shared
/// by several hosts).
///
/// A backend keeps an append-only, hash-chained log of events and views folded from it, and
/// changes both in one transaction. It decides nothing: every lifecycle rule runs in the engine
/// (`Lifecycle.decide`) and in the fold (`Lifecycle.apply`), which a backend calls through
/// ``BatchWriting/append(_:name:time:current:)``. Sequences are commit order: everything up to a
/// committed sequence is committed, on every backend, so a reader that saw sequence `n` never
/// misses an event at or before it.
public protocol OperationStore: AnyObject, Sendable {
    /// Where the data lives, for logs and `longrun info`: a data directory, or a database.
    var location: String { get }

    // MARK: Writing

    /// Runs `body` in one write transaction: what it appends is folded and committed together when
    /// it returns, and discarded if it throws. Called by the engine's one writer, on a thread of its
    /// own (it may block); never concurrently with itself on one store object. `footprint` names the
    /// operations and request ids `body` may read, so that a backend that must load or lock them
    /// first does so in one round trip; `body` reading others is a bug the backend reports.
    /// `body` may run again (LMDB grows its map; PostgreSQL retries a deadlock), so it derives
    /// everything it returns from the transaction.
    func write<R>(footprint: BatchFootprint, _ body: (any BatchWriting) throws -> R) throws -> R

    /// ``write(footprint:_:)``, offering the batch's answers a moment before it is visible: once
    /// the batch is durable, `answer` may be called (at most once, on this thread, before this
    /// returns) with `body`'s result, and returns whether it answered. Every read that begins
    /// after that waits until the batch is visible, and if the backend then cannot make it visible
    /// it refuses reads and writes until it is opened again, which does. A backend whose commit is
    /// one step (the default: PostgreSQL) never calls it, and the caller answers after this
    /// returns.
    func write<R>(footprint: BatchFootprint, answering answer: ((R) -> Bool)?, _ body: (any BatchWriting) throws -> R) throws -> R

    /// Whether ``write(footprint:_:)`` reads its `footprint`: true for a backend that loads what a
    /// batch reads before its transaction (PostgreSQL); false for one whose transaction sees the
    /// whole store (LMDB), for which the writer builds none (an empty footprint, then).
    var readsFootprint: Bool { get }

    /// Makes every commit so far durable, for relaxed durability. Called on the writer's thread.
    func sync() throws

    // MARK: Reading (each call sees a committed state; none waits for the writer)

    /// The sequence of the newest committed event (0 for an empty store).
    func appliedSequence() async throws -> UInt64
    /// An operation's state, deleted ones included; nil if it never existed.
    func operation(_ name: OperationName) async throws -> OperationState?
    /// One page of a collection, or of several merged, in creation order (``ListQuery``).
    func list(_ query: ListQuery) async throws -> ListPage
    /// Up to `limit` of the collections of `set` that hold live operations (not deleted or
    /// expired), in the order of their parents' bytes (the root first), after the collection whose
    /// parent is `after` (from the first when nil). Costs about one index probe per collection
    /// walked, none per operation.
    func collections(matching set: CollectionSet, after: String?, limit: Int) async throws -> [CollectionName]
    /// The oldest sequence the log keeps; nil when it keeps everything from 1.
    func logTail() async throws -> UInt64?
    /// Up to `limit` events of the log after `sequence`, oldest first.
    func events(after sequence: UInt64, limit: Int) async throws -> [Event]
    /// Up to `limit` events of one operation after `sequence`, oldest first.
    func events(of name: OperationName, after sequence: UInt64, limit: Int) async throws -> [Event]
    /// The state `name` had right after the event at `sequence`; nil if it did not exist yet. The
    /// default folds ``events(of:after:limit:)`` (``Lifecycle/HistoryFold``); a backend replaces it
    /// only to read the pages in one transaction.
    func state(of name: OperationName, at sequence: UInt64) async throws -> OperationState?
    /// Operations whose engine deadline (``IndexFacts/engineDeadline``: a cooperative cancel's grace
    /// or a lease) passed by `now`, earliest first, after `after` (the last entry of the previous
    /// page) when given, up to `limit`; and the next deadline after those. Unreadable entries go to
    /// `damaged` and are skipped.
    func engineDeadlines(dueBy now: Timestamp, after: EngineDeadline?, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> (due: [EngineDeadline], next: Timestamp?)
    /// Done operations whose time to live under `policy` passed by `now`, up to `limit`.
    func expiredByRetention(_ policy: RetentionPolicy, now: Timestamp, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> [OperationName]

    // MARK: Other writers

    /// From now until `close()`, calls `notify` for the commits after `sequence` with the sequence
    /// through which everything is committed and the operations that changed, at least for those
    /// this store object did not make (other hosts sharing the store). A backend with one writer
    /// per store never calls it.
    func followCommits(after sequence: UInt64, _ notify: @escaping @Sendable (_ committedThrough: UInt64, _ changed: [OperationName]) -> Void)

    /// Stops following commits and releases connections. Idempotent.
    func close()
}

extension OperationStore {
    public func write<R>(footprint: BatchFootprint, answering answer: ((R) -> Bool)?, _ body: (any BatchWriting) throws -> R) throws -> R {
        try write(footprint: footprint, body)
    }

    public func state(of name: OperationName, at sequence: UInt64) async throws -> OperationState? {
        var fold = Lifecycle.HistoryFold(through: sequence)
        while let after = fold.nextPageAfter { fold.add(try await events(of: name, after: after, limit: Lifecycle.HistoryFold.pageSize)) }
        return fold.state
    }
}

/// The operations and request ids one write batch reads before it changes them.
public struct BatchFootprint: Sendable {
    public var operations: Set<OperationName> = []
    public var requestIDs: Set<RequestIDKey> = []

    public init() {}

    /// A request id within its collection: ids are unique per collection (AIP-155).
    public struct RequestIDKey: Hashable, Sendable {
        public var collection: CollectionName
        public var requestID: String

        public init(_ collection: CollectionName, _ requestID: String) {
            self.collection = collection
            self.requestID = requestID
        }
    }
}

/// The write side of one batch transaction, as ``OperationStore/write(footprint:_:)`` hands it over.
public protocol BatchWriting: AnyObject {
    /// The newest sequence in the log, including what this transaction appended.
    var head: UInt64 { get }
    /// The state of `name` in this transaction (what it appended included).
    func operation(_ name: OperationName) throws -> OperationState?
    /// The operation created with `requestID` in `collection`, in this transaction.
    func operation(forRequestID requestID: String, in collection: CollectionName) throws -> OperationState?
    /// Appends `drafts` as events of `name` at `time`, folds each into the views, and returns them
    /// with their sequences and the state after them. `current` is the state just read.
    func append(_ drafts: [Event.Draft], name: OperationName, time: Timestamp, current: OperationState?) throws
        -> (events: [Event], state: OperationState?)
}
