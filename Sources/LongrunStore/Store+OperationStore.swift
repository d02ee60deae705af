import Logging
public import LongrunDomain

/// The LMDB store behind the storage seam. Reads run in their own read transaction on the caller's
/// thread (microseconds, never blocked by the writer); writes in the one write transaction.
extension Store: OperationStore {
    public var location: String { directory }

    /// LMDB needs no footprint: the write transaction sees and locks the whole store.
    public var readsFootprint: Bool { false }

    public func write<R>(footprint: BatchFootprint, _ body: (any BatchWriting) throws -> R) throws -> R {
        try write(footprint: footprint, answering: nil, body)
    }

    /// With the journal on, `answer` is offered the batch once its journal record is flushed,
    /// before LMDB's commit (``StoreJournal/commitBatch(_:answering:_:)``); without it, never.
    public func write<R>(footprint: BatchFootprint, answering answer: ((R) -> Bool)?, _ body: (any BatchWriting) throws -> R) throws -> R {
        guard let journal = try journalSlot.forCommit() else { return try write { writer in try body(writer) } }
        return try journal.commitBatch(self, answering: answer) { writer in try body(writer) }
    }

    public func appliedSequence() async throws -> UInt64 { try read { try $0.appliedSequence() } }
    public func operation(_ name: OperationName) async throws -> OperationState? { try read { try $0.operation(name) } }
    public func list(_ query: ListQuery) async throws -> ListPage { try read { try $0.list(query) } }
    public func collections(matching set: CollectionSet, after: String?, limit: Int) async throws -> [CollectionName] {
        try read { try $0.collections(matching: set, after: after, limit: limit) }
    }
    public func logTail() async throws -> UInt64? { try read { try $0.logTail() } }

    public func events(after sequence: UInt64, limit: Int) async throws -> [Event] {
        try read { try $0.events(after: sequence, limit: limit) }
    }

    public func events(of name: OperationName, after sequence: UInt64, limit: Int) async throws -> [Event] {
        try read { try $0.events(of: name, after: sequence, limit: limit) }
    }

    public func state(of name: OperationName, at sequence: UInt64) async throws -> OperationState? {
        try read { try $0.state(of: name, at: sequence) }
    }

    public func engineDeadlines(dueBy now: Timestamp, after: EngineDeadline?, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> (due: [EngineDeadline], next: Timestamp?)
    {
        try read { try $0.engineDeadlines(dueBy: now, after: after, limit: limit, damaged: damaged) }
    }

    public func expiredByRetention(_ policy: RetentionPolicy, now: Timestamp, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> [OperationName]
    {
        try read { try $0.expiredByRetention(policy, now: now, limit: limit, damaged: damaged) }
    }

    /// One writer per data directory (the daemon holds its lock): the only commits not the engine's
    /// are the open's own when it served reads before making them
    /// (``Configuration/serveReadsWhileOpening``): the journal's entries it applied are told once
    /// it has.
    public func followCommits(after sequence: UInt64, _ notify: @escaping @Sendable (UInt64, [OperationName]) -> Void) {
        journalSlot.whenOpened { [self] in
            do {
                let (head, events) = try read { reader in (try reader.appliedSequence(), try reader.events(after: sequence, limit: 100_000)) }
                guard head > sequence else { return }
                var seen = Set<OperationName>()
                notify(head, events.map(\.name).filter { seen.insert($0).inserted })
            } catch {
                logger.warning("could not read what the open applied; waiters on it wake at the next commit", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Writes the journal's last checkpoint, so the next open has nothing to apply, and leaves the
    /// flushes to LMDB from then on. The environment closes when the last reference goes.
    public func close() {
        guard let journal = journalSlot.take() else { return }
        do { try journal.stop(self) } catch {
            logger.error("could not write the journal's last checkpoint; the next open applies the journal", metadata: ["error": "\(error)"])
        }
    }
}

extension StoreWriter: BatchWriting {
    public func operation(_ name: OperationName) throws -> OperationState? { try reader.operation(name) }

    public func operation(forRequestID requestID: String, in collection: CollectionName) throws -> OperationState? {
        try reader.operation(forRequestID: requestID, in: collection)
    }
}
