import LMDB
public import LongrunDomain

/// The write side of one transaction: appends events to the log and folds them into the views.
/// Valid only inside ``Store/write(_:)``.
public final class StoreWriter {
    let txn: WriteTransaction
    let schema: Schema
    /// The newest sequence in the log, including what this transaction appended.
    public private(set) var head: UInt64
    /// The chain hash of the entry at ``head``.
    private var headHash: ChainHash
    /// The newest sequence folded into the views, including what this transaction folded.
    private(set) var applied: UInt64
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
        try append(drafts, name: name, time: time, current: reader.operation(name)).events
    }

    /// ``append(_:name:time:)`` for a caller that has just read `current`, the operation's state in
    /// this transaction: it is folded without being read again, and the state after the events is
    /// returned.
    public func append(_ drafts: [Event.Draft], name: OperationName, time: Timestamp,
                       current: OperationState?) throws -> (events: [Event], state: OperationState?) {
        precondition(applied == head, "views must be caught up with the log before appending")
        var events: [Event] = []
        events.reserveCapacity(drafts.count)
        var state = current
        for draft in drafts {
            let event = Event(sequence: head + 1, time: time, name: name, actor: draft.actor, kind: draft.kind)
            let (entry, hash) = LogEntry.make(sequence: event.sequence, previous: headHash, record: RecordCodec.encode(event))
            try txn.put(schema.log, key: Keys.sequence(event.sequence), value: entry, mode: .append)
            head = event.sequence
            headHash = hash
            state = try fold(event, previous: state)
            events.append(event)
        }
        return (events, state)
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
            let (stored, record) = try LogEntry.open(value, sequence: sequence)
            guard headHash.next(record: record) == stored else {
                throw StoreError(.dataLoss, "event \(sequence) breaks the hash chain: it was edited, removed or reordered. Run `longrun-replay verify`")
            }
            return (folds ? try reader.decodeEvent(value, sequence: sequence) : nil, stored)
        }
        try txn.put(schema.log, key: Keys.sequence(sequence), value: entry, mode: .append)
        head = sequence
        headHash = hash
        if let event {
            try fold(event)
        } else {
            // A snapshot holds no history (it is the log's index): the copied entry's comes with it.
            try entry.withUnsafeBytes { try putHistory(ofCovered: reader.decodeEvent($0, sequence: sequence)) }
        }
    }

    /// The `history` entry of one event: its operation's name and its sequence.
    private func putHistory(of event: Event) throws {
        try putSealed(schema.history, key: Keys.history(event.name, event.sequence), body: [])
    }

    /// The `history` entry of an event a loaded snapshot covers, as its fold would have put it: the
    /// fold puts none for an event of an operation never created (which ``Lifecycle/apply(_:_:)-(OperationState?,_)``
    /// ignores, and a log written by the lifecycle never holds), and every operation created up to
    /// the snapshot has its record there.
    private func putHistory(ofCovered event: Event) throws {
        if case .created = event.kind {} else if try txn.get(schema.operations, key: Keys.name(event.name)) == nil { return }
        try putHistory(of: event)
    }

    /// The `history` entries of this store's own log events from `first` through `last`: a loaded
    /// snapshot, which holds only records, covers those events.
    func putHistory(from first: UInt64, through last: UInt64) throws {
        guard first <= last else { return }
        try txn.withCursor(schema.log) { cursor in
            var entry = try cursor.seek(atLeast: Keys.sequence(first))
            while let (key, value) = entry, let sequence = Keys.decodeSequence(key), sequence <= last {
                try putHistory(ofCovered: reader.decodeEvent(value, sequence: sequence))
                entry = try cursor.next()
            }
        }
    }

    /// The index entries `state` implies, for a record loaded without them (from a snapshot).
    func putIndexes(of state: OperationState) throws {
        try updateIndexes(from: nil, to: state)
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

    /// Folds one event into every view; returns the operation's state after it.
    @discardableResult
    private func fold(_ event: Event) throws -> OperationState? {
        try fold(event, previous: reader.operation(event.name))
    }

    /// Folds one event, given the operation's state in this transaction before it.
    private func fold(_ event: Event, previous: OperationState?) throws -> OperationState? {
        defer {
            applied = event.sequence
            appliedChanged = true
        }
        guard let next = Lifecycle.apply(previous, event) else { return previous }
        try putSealed(schema.operations, key: Keys.name(event.name), body: RecordCodec.encode(next))
        try putHistory(of: event)
        try updateIndexes(from: previous, to: next)
        return next
    }

    /// Stores `body` under `key` with its checksum (``Checksum``): the one way view records are written.
    func putSealed(_ database: Database, key: [UInt8], body: [UInt8]) throws {
        try txn.put(database, key: key, value: Checksum.seal(key: key, body: body))
    }

    /// Makes the indexes of one operation go from what `previous` implies to what `next` implies.
    /// The one place index entries change.
    private func updateIndexes(from previous: OperationState?, to next: OperationState) throws {
        let old = IndexEntries(previous)
        let new = IndexEntries(next)
        for (database, key) in old.entries(schema) where !new.contains(database, key, schema) {
            try txn.delete(database, key: key)
        }
        for (database, key) in new.entries(schema) where !old.contains(database, key, schema) {
            try putSealed(database, key: key, body: IndexEntries.body(of: database, for: next.name, schema))
        }
    }
}

/// The index entries an operation's state implies, beside its record and its history:
/// - `by_creation` while it is not deleted or expired, `running` while it is also not done (both
///   keyed by collection and create sequence, valued by name);
/// - `request_ids` if it was created with one (kept after deletion, so a retry learns of it);
/// - `engine_deadlines` while it is not done and the engine has a deadline on it (a cooperative cancel's grace, a lease);
/// - `expiry_candidates` while it is done, not held and not deleted (keyed by outcome class and
///   end time, for retention).
struct IndexEntries {
    var creation: [UInt8]?
    var running: Bool
    var requestID: [UInt8]?
    var engineDeadline: [UInt8]?
    var expiryCandidate: [UInt8]?

    init(_ state: OperationState?) {
        let facts = IndexFacts(state)
        creation = facts.listed ? state.map { Keys.creation($0.name.collection, $0.createSequence) } : nil
        running = facts.running
        requestID = state.flatMap { state in facts.requestID.map { Keys.requestID(state.name.collection, $0) } }
        engineDeadline = state.flatMap { state in facts.engineDeadline.map { Keys.deadline($0, state.name) } }
        expiryCandidate = state.flatMap { state in facts.expiry.map { Keys.expiryCandidate($0.outcomeClass, $0.end, state.name) } }
    }

    func entries(_ schema: Schema) -> [(Database, [UInt8])] {
        var entries: [(Database, [UInt8])] = []
        if let creation {
            entries.append((schema.byCreation, creation))
            if running { entries.append((schema.running, creation)) }
        }
        if let requestID { entries.append((schema.requestIDs, requestID)) }
        if let engineDeadline { entries.append((schema.engineDeadlines, engineDeadline)) }
        if let expiryCandidate { entries.append((schema.expiryCandidates, expiryCandidate)) }
        return entries
    }

    /// What an index entry of `name` holds (before its checksum): the name for the indexes List
    /// and request ids read through, nothing for the others, whose key says it all.
    static func body(of database: Database, for name: OperationName, _ schema: Schema) -> [UInt8] {
        bodyNamesOperation(database, schema) ? Keys.name(name) : []
    }

    /// Whether entries of `database` hold the operation's name (else nothing).
    static func bodyNamesOperation(_ database: Database, _ schema: Schema) -> Bool {
        database == schema.byCreation || database == schema.running || database == schema.requestIDs
    }

    func contains(_ database: Database, _ key: [UInt8], _ schema: Schema) -> Bool {
        if database == schema.byCreation { return creation == key }
        if database == schema.running { return running && creation == key }
        if database == schema.requestIDs { return requestID == key }
        if database == schema.engineDeadlines { return engineDeadline == key }
        if database == schema.expiryCandidates { return expiryCandidate == key }
        return false
    }
}
