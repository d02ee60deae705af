import LMDB
import LongrunDomain

/// The write side of one transaction: appends events to the log and folds them into the views.
/// Valid only inside ``Store/write(_:)``.
public final class StoreWriter {
    let txn: WriteTransaction
    let schema: Schema
    /// The newest sequence in the log, including what this transaction appended.
    public private(set) var head: UInt64
    /// The chain hash of the entry at ``head``.
    private var headHash: ChainHash
    private var applied: UInt64
    private var appliedChanged = false

    init(txn: WriteTransaction, schema: Schema) throws {
        self.txn = txn
        self.schema = schema
        let reader = StoreReader(txn: txn, schema: schema)
        self.head = try reader.logHead()
        self.headHash = try reader.headHash()
        self.applied = try reader.appliedSequence()
    }

    /// Reads that see what this transaction has written so far.
    public var reader: StoreReader { StoreReader(txn: txn, schema: schema) }

    /// Appends `drafts` as events of `name` at `time`, folds each into the views, and returns them
    /// with their sequence numbers.
    @discardableResult
    public func append(_ drafts: [Event.Draft], name: OperationName, time: Timestamp) throws -> [Event] {
        precondition(applied == head, "views must be caught up with the log before appending")
        var events: [Event] = []
        events.reserveCapacity(drafts.count)
        for draft in drafts {
            let event = Event(sequence: head + 1, time: time, name: name, actor: draft.actor, kind: draft.kind)
            let (entry, hash) = LogEntry.make(previous: headHash, record: RecordCodec.encode(event))
            try txn.put(schema.log, key: Keys.sequence(event.sequence), value: entry, mode: .append)
            head = event.sequence
            headHash = hash
            try fold(event)
            events.append(event)
        }
        return events
    }

    /// Copies one log entry from another store, refusing it unless it continues the chain, and folds
    /// it when it is after the applied sequence (entries a loaded snapshot covers are only copied).
    /// A compacted source log starts after 1: only this store's first entry may skip ahead.
    func appendLogged(sequence: UInt64, entry: [UInt8]) throws {
        guard head == 0 || sequence == head + 1 else {
            throw StoreError(.dataLoss, "the log has a gap: expected event \(head + 1), found \(sequence)")
        }
        let folds = sequence > applied
        // Entries a loaded snapshot already covers are only copied: the chain vouches for their bytes.
        let (event, hash): (Event?, ChainHash) = try entry.withUnsafeBytes { value in
            guard let (stored, record) = LogEntry.split(value) else {
                throw StoreError(.dataLoss, "event \(sequence) is too short to hold a chain hash")
            }
            guard headHash.next(record: record) == stored else {
                throw StoreError(.dataLoss, "event \(sequence) breaks the hash chain: it was edited, removed or reordered. Run `longrun-replay verify`")
            }
            return (folds ? try reader.decodeEvent(value, sequence: sequence) : nil, stored)
        }
        try txn.put(schema.log, key: Keys.sequence(sequence), value: entry, mode: .append)
        head = sequence
        headHash = hash
        if let event { try fold(event) }
    }

    /// Replay: folds the logged events `from...through` into the views.
    func foldLogged(from: UInt64, through: UInt64) throws {
        precondition(from == applied + 1, "replay must continue from the applied sequence")
        let events = try reader.events(after: from - 1, limit: Int(through - from + 1))
        var expected = from
        for event in events {
            guard event.sequence == expected else {
                throw StoreError(.dataLoss, "the log has a gap: expected sequence \(expected), found \(event.sequence)")
            }
            try fold(event)
            expected += 1
        }
        guard expected == through + 1 else {
            throw StoreError(.dataLoss, "the log ends at \(expected - 1) before the expected \(through)")
        }
    }

    func setAppliedSequence(_ sequence: UInt64) throws {
        applied = sequence
        appliedChanged = true
    }

    /// Records the applied sequence in the same transaction as the fold.
    func finish() throws {
        guard appliedChanged else { return }
        try txn.put(schema.meta, key: Schema.MetaKey.appliedSequence, value: Keys.sequence(applied))
    }

    /// Folds one event into every view. The one place views change.
    private func fold(_ event: Event) throws {
        let nameKey = Keys.name(event.name)
        let previous = try reader.operation(event.name)
        defer {
            applied = event.sequence
            appliedChanged = true
        }
        guard let next = Lifecycle.apply(previous, event) else { return }
        try txn.put(schema.operations, key: nameKey, value: RecordCodec.encode(next))
        try txn.put(schema.history, key: Keys.history(event.name, event.sequence), value: [])
        let collection = event.name.collection
        switch event.kind {
        case .created(let created):
            guard previous == nil else { return }
            let key = Keys.creation(collection, next.createSequence)
            try txn.put(schema.byCreation, key: key, value: nameKey)
            try txn.put(schema.running, key: key, value: nameKey)
            if let requestID = created.requestID {
                try txn.put(schema.requestIDs, key: Keys.requestID(collection, requestID), value: nameKey)
            }
        case .progressed:
            break
        case .cancelRequested(_, let deadline):
            if let deadline, !next.done, !next.isDeleted {
                try txn.put(schema.cancelDeadlines, key: Keys.deadline(deadline, event.name), value: [])
            }
        case .completed:
            try txn.delete(schema.running, key: Keys.creation(collection, next.createSequence))
            try clearCancelDeadline(previous)
            if next.hold == nil { try setExpiryCandidate(next, present: true) }
        case .deleted, .expired:
            let key = Keys.creation(collection, next.createSequence)
            try txn.delete(schema.byCreation, key: key)
            try txn.delete(schema.running, key: key)
            try clearCancelDeadline(previous)
            if let previous { try setExpiryCandidate(previous, present: false) }
        case .holdSet:
            try setExpiryCandidate(next, present: false)
        case .holdReleased:
            try setExpiryCandidate(next, present: true)
        }
    }

    /// Adds (or removes) a done operation to the index retention scans.
    private func setExpiryCandidate(_ state: OperationState, present: Bool) throws {
        guard let outcome = state.outcome, let end = state.endTime else { return }
        let key = Keys.expiryCandidate(RetentionPolicy.outcomeClass(outcome), end, state.name)
        if present && !state.isDeleted { try txn.put(schema.expiryCandidates, key: key, value: []) } else { try txn.delete(schema.expiryCandidates, key: key) }
    }

    private func clearCancelDeadline(_ state: OperationState?) throws {
        guard let state, let deadline = state.cancelRequest?.graceDeadline else { return }
        try txn.delete(schema.cancelDeadlines, key: Keys.deadline(deadline, state.name))
    }
}
