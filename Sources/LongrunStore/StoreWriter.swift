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
    /// Whether the log has no entry (a new store, a rebuild's target, or a log compacted to nothing).
    private var logIsEmpty: Bool

    /// With ``journaling``, the log entries this transaction appended, for the journal.
    private(set) var journalEntries: [(sequence: UInt64, entry: [UInt8])] = []
    private let journaling: Bool

    init(txn: WriteTransaction, schema: Schema, journaling: Bool = false) throws {
        self.txn = txn
        self.schema = schema
        self.journaling = journaling
        let reader = StoreReader(txn: txn, schema: schema)
        self.logIsEmpty = try reader.logTail() == nil
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
            if journaling { journalEntries.append((event.sequence, entry)) }
            head = event.sequence
            headHash = hash
            logIsEmpty = false
            state = try fold(event, previous: state)
            events.append(event)
        }
        return (events, state)
    }

    /// Copies one log entry from another store, refusing it unless it continues the chain. The
    /// views are not touched: ``Store/foldCopiedLog(progress:)`` (replay) folds the entries after the
    /// applied sequence once copied, and ``Store/copyLogged(_:)`` gives those a loaded snapshot covers
    /// their history entries (``putHistory(from:through:)``). A compacted source log starts after 1:
    /// only this store's first entry may skip ahead.
    func copyLogged(sequence: UInt64, entry: [UInt8]) throws {
        guard logIsEmpty || sequence == head + 1 else {
            throw StoreError(.dataLoss, "the log has a gap: expected event \(head + 1), found \(sequence)")
        }
        let hash = try entry.withUnsafeBytes { value in
            let (stored, record) = try LogEntry.open(value, sequence: sequence)
            guard headHash.next(record: record) == stored else {
                throw StoreError(.dataLoss, "event \(sequence) breaks the hash chain: it was edited, removed or reordered. Run `longrun-replay verify`")
            }
            return stored
        }
        try txn.put(schema.log, key: Keys.sequence(sequence), value: entry, mode: .append)
        head = sequence
        headHash = hash
        logIsEmpty = false
    }

    /// The `history` entry of one event: its operation's create sequence and its own.
    private func putHistory(of event: Event, createSequence: UInt64) throws {
        try putSealed(schema.history, key: Keys.history(createSequence: createSequence, event.sequence), body: [])
    }

    /// The `history` entries of this store's own log events from `first` through `last`, which a
    /// loaded snapshot covers (it holds only records), as their folds would have put them: one for
    /// each event of an operation that has a record, and for each creation (the fold puts none for
    /// an event of an operation never created, which ``Lifecycle/apply(_:_:)-(OperationState?,_)``
    /// ignores and a log written by the lifecycle never holds; every operation created up to the
    /// snapshot has its record there).
    ///
    /// Events the log does not hold are skipped. In chunks of 50,000 events, decoded as replay
    /// decodes them: each operation's record is looked up once per chunk, and the chunk's entries
    /// are written in one ascending run.
    func putHistory(from first: UInt64, through last: UInt64) throws {
        // Only what the log holds: none yet when a rebuild loads its snapshot (it copies the log
        // after, and ``Store/copyLogged(_:)`` indexes what it copies).
        guard let tail = try reader.logTail() else { return }
        let last = min(last, try reader.logHead())
        var next = max(first, tail)
        while next <= last {
            let end = min(last, next + 49_999)
            let decoded = try reader.decodeLogged(from: next, through: end)
            // Each operation's create sequence, from its record (none: no record, or one that
            // cannot be read, which the scrub reports and a repair rebuilds with its history).
            var created: [UInt64?] = []
            created.reserveCapacity(decoded.names.entries.count)
            for entry in decoded.names.entries {
                do { created.append(try reader.operation(entry.name)?.createSequence) } catch let error as StoreError where error.kind == .dataLoss {
                    created.append(nil)
                }
            }
            var history: [(slot: Int32, sequence: UInt64)] = []
            history.reserveCapacity(decoded.events.count)
            for (event, slot) in zip(decoded.events, decoded.slots) {
                if case .created = event.kind, created[Int(slot)] == nil { created[Int(slot)] = event.sequence }
                guard created[Int(slot)] != nil else { continue }
                history.append((slot, event.sequence))
            }
            try writeHistory(history, createSequences: created.map { $0 ?? .max })
            next = end + 1
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

    /// Folds one event, given the operation's state in this transaction before it.
    private func fold(_ event: Event, previous: OperationState?) throws -> OperationState? {
        defer {
            applied = event.sequence
            appliedChanged = true
        }
        guard let next = Lifecycle.apply(previous, event) else { return previous }
        try putRecord(next, previous: previous)
        try putHistory(of: event, createSequence: next.createSequence)
        try updateIndexes(from: previous, to: next)
        return next
    }

    /// Stores an operation's record where its state keeps it (``Schema/recordDatabase(_:)``, under
    /// ``Schema/recordKey(of:listed:)``), taking it out of the database it was in when it moves:
    /// from ``Schema/operations`` to ``Schema/doneOperations`` when it ends, out of either when it
    /// dies. `previous` is the state stored before (nil for a create, or when unknown: then a state
    /// that is not running clears the other databases of live records of its create sequence). Its
    /// `names` entry is an index entry (``IndexEntries``), not written here.
    func putRecord(_ state: OperationState, previous: OperationState?) throws {
        let facts = IndexFacts(state)
        let home = schema.recordDatabase(facts)
        let key = Keys.sequence(state.createSequence)
        if let previous {
            if let left = schema.liveRecordsLeft(from: IndexFacts(previous), to: facts) { _ = try txn.delete(left, key: key) }
        } else if home != schema.operations {
            for database in schema.liveRecords where database != home { _ = try txn.delete(database, key: key) }
        }
        try putSealed(home, key: Schema.recordKey(of: state, listed: facts.listed), body: RecordCodec.encode(state))
    }

    /// Removes whatever record `name` has: its tombstone, its `names` entry, and the live records
    /// under each of `createSequences` and under the one its `names` entry gives, each only if it
    /// is this operation's or cannot be read (a record that names another operation stays: a
    /// damaged `names` entry must not delete another operation's record). Whether there was one.
    func deleteRecord(of name: OperationName, under createSequences: Set<UInt64> = []) throws -> Bool {
        let nameKey = Keys.name(name)
        var deleted = try txn.delete(schema.tombstones, key: nameKey)
        var sequences = createSequences
        if let value = try txn.get(schema.names, key: nameKey) {
            if let body = nameKey.withUnsafeBytes({ Checksum.body(key: $0, value: value) }), let sequence = Keys.decodeSequence(body) {
                sequences.insert(sequence)
            }
            _ = try txn.delete(schema.names, key: nameKey)
        }
        for sequence in sequences {
            let key = Keys.sequence(sequence)
            for database in schema.liveRecords {
                guard let value = try txn.get(database, key: key) else { continue }
                let owner = key.withUnsafeBytes { Checksum.body(key: $0, value: value) }.flatMap { try? RecordCodec.decodeState($0).name }
                guard owner == nil || owner == name else { continue }
                if try txn.delete(database, key: key) { deleted = true }
            }
        }
        return deleted
    }

    /// Forgets a dead operation (``Lifecycle/isForgotten(_:compactedThrough:)``): its tombstone and
    /// the index entries it still implies (its request id's), each only while it names this
    /// operation: loading a differential may have put, under the same request id, the entry of an
    /// operation created after this one was forgotten (its base still holds this tombstone).
    func forget(_ state: OperationState) throws {
        let name = Keys.name(state.name)
        _ = try txn.delete(schema.tombstones, key: name)
        let entries = IndexEntries(state)
        var key: [UInt8] = []
        for index in IndexEntries.Index.allCases where entries.has(index) {
            entries.key(index, into: &key)
            let database = index.database(schema)
            if index.bodyNamesOperation {
                guard let value = try txn.get(database, key: key),
                      key.withUnsafeBytes({ Checksum.body(key: $0, value: value)?.elementsEqual(name) ?? false })
                else { continue }
            }
            _ = try txn.delete(database, key: key)
        }
    }

    /// Forgets every tombstone the rule forgets once the log is compacted through `sequence`,
    /// reading the `tombstones` view from after the name `after` (from its start if nil), at most
    /// `limit` records, but those named in `kept`: what a loaded snapshot, or a store compacted by
    /// a build that kept every tombstone, needs (compaction itself forgets as it goes). Returns
    /// how many it forgot and the last name read, nil once the view is read to its end (and then
    /// records that none is left).
    func forgetTombstones(compactedThrough sequence: UInt64, except kept: Set<OperationName> = [], after: [UInt8]? = nil,
                          limit: Int = .max) throws -> (forgotten: Int, last: [UInt8]?) {
        var forgotten: [OperationState] = []
        var last: [UInt8]?
        try txn.withCursor(schema.tombstones) { cursor in
            var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
            if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
            var read = 0
            while let (key, value) = entry, read < limit {
                // A damaged record stays, for the scrub to report and a repair to rebuild.
                if let body = Checksum.body(key: key, value: value), let state = try? RecordCodec.decodeState(body),
                   Lifecycle.isForgotten(state, compactedThrough: sequence), !kept.contains(state.name) {
                    forgotten.append(state)
                }
                read += 1
                last = Array(key)
                entry = try cursor.next()
            }
            if entry == nil { last = nil }
        }
        for state in forgotten { try forget(state) }
        if last == nil { try noteForgotten(through: sequence) }
        return (forgotten.count, last)
    }

    /// Records that no tombstone of the log up to `sequence` is left (``Schema/MetaKey/forgottenThrough``).
    func noteForgotten(through sequence: UInt64) throws {
        try txn.put(schema.meta, key: Schema.MetaKey.forgottenThrough, value: Keys.sequence(sequence))
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
        var key: [UInt8] = []
        for index in IndexEntries.Index.allCases where IndexEntries.removes(index, from: old, to: new) {
            old.key(index, into: &key)
            _ = try txn.delete(index.database(schema), key: key)
        }
        for index in IndexEntries.Index.allCases where IndexEntries.adds(index, from: old, to: new) {
            new.key(index, into: &key)
            try putSealed(index.database(schema), key: key, body: new.body(index))
        }
    }
}

/// The index entries an operation's state implies, beside its record and its history:
/// - `by_creation` while it is not deleted or expired, `running` while it is also not done (both
///   keyed by collection and create sequence, valued by name);
/// - `names` while it is not deleted or expired (keyed by name, valued by create sequence: where
///   its record is in `operations`);
/// - `request_ids` if it was created with one (kept after deletion, so a retry learns of it);
/// - `engine_deadlines` while it is not done and the engine has a deadline on it (a cooperative cancel's grace, a lease);
/// - `expiry_candidates` while it is done, not held and not deleted (keyed by outcome class and
///   end time, for retention).
///
/// Kept as facts, not keys: two states of an operation are compared index by index without
/// building a key, and a key is built (into a caller's buffer) only for an entry that changes.
struct IndexEntries {
    /// The indexes an operation can have an entry in, in the order ``entries(_:)`` lists them.
    enum Index: CaseIterable {
        case byCreation, running, requestIDs, engineDeadlines, expiryCandidates, names

        func database(_ schema: Schema) -> Database {
            switch self {
            case .byCreation: schema.byCreation
            case .running: schema.running
            case .requestIDs: schema.requestIDs
            case .engineDeadlines: schema.engineDeadlines
            case .expiryCandidates: schema.expiryCandidates
            case .names: schema.names
            }
        }

        /// Whether its entries hold the operation's name: the indexes List and request ids read
        /// through. `names` holds the create sequence; the others nothing, their keys say it all.
        var bodyNamesOperation: Bool { self == .byCreation || self == .running || self == .requestIDs }
    }

    let facts: IndexFacts
    /// What the keys are made of beside the facts; nil for no state (and no entries).
    private let operation: (name: OperationName, createSequence: UInt64)?

    init(_ state: OperationState?) {
        facts = IndexFacts(state)
        operation = state.map { ($0.name, $0.createSequence) }
    }

    func has(_ index: Index) -> Bool {
        guard operation != nil else { return false }
        switch index {
        case .byCreation, .names: return facts.listed
        case .running: return facts.running
        case .requestIDs: return facts.requestID != nil
        case .engineDeadlines: return facts.engineDeadline != nil
        case .expiryCandidates: return facts.expiry != nil
        }
    }

    /// Whether both have an entry in `index` under the same key. Each key is a one-to-one function
    /// of what is compared here (a parent holds no 0x00; times and sequences are fixed-width).
    func hasSameEntry(_ index: Index, as other: IndexEntries) -> Bool {
        guard has(index), other.has(index), let mine = operation, let theirs = other.operation else { return false }
        switch index {
        case .byCreation, .running: return mine.createSequence == theirs.createSequence && mine.name.collection == theirs.name.collection
        // Its value, the create sequence, is the same while the name is listed: an operation's
        // never changes, and a name is created again only after its operation was forgotten.
        case .names: return mine.name == theirs.name
        case .requestIDs: return facts.requestID == other.facts.requestID && mine.name.collection == theirs.name.collection
        case .engineDeadlines: return facts.engineDeadline == other.facts.engineDeadline && mine.name == theirs.name
        case .expiryCandidates: return facts.expiry == other.facts.expiry && mine.name == theirs.name
        }
    }

    /// Whether going from `old` to `new` removes `old`'s entry in `index`.
    static func removes(_ index: Index, from old: IndexEntries, to new: IndexEntries) -> Bool {
        old.has(index) && !new.hasSameEntry(index, as: old)
    }

    /// Whether going from `old` to `new` adds `new`'s entry in `index`.
    static func adds(_ index: Index, from old: IndexEntries, to new: IndexEntries) -> Bool {
        new.has(index) && !old.hasSameEntry(index, as: new)
    }

    /// Its key in `index` (where it ``has(_:)`` an entry), written over what `key` held.
    func key(_ index: Index, into key: inout [UInt8]) {
        key.removeAll(keepingCapacity: true)
        guard let (name, createSequence) = operation else { return }
        switch index {
        case .byCreation, .running: Keys.appendCreation(name.collection, createSequence, to: &key)
        case .requestIDs: Keys.appendRequestID(name.collection, facts.requestID ?? "", to: &key)
        case .engineDeadlines: Keys.appendDeadline(facts.engineDeadline ?? Timestamp(nanosecondsSinceEpoch: 0), name, to: &key)
        case .expiryCandidates:
            guard let expiry = facts.expiry else { return }
            Keys.appendExpiryCandidate(expiry.outcomeClass, expiry.end, name, to: &key)
        case .names: key.append(contentsOf: name.description.utf8)
        }
    }

    /// What its entry in `index` holds (before its checksum): the name for the indexes List and
    /// request ids read through, the create sequence in `names`, nothing in the others.
    func body(_ index: Index) -> [UInt8] {
        guard let (name, createSequence) = operation else { return [] }
        if index.bodyNamesOperation { return Keys.name(name) }
        return index == .names ? Keys.sequence(createSequence) : []
    }

    /// Every entry, with its database and key (for the checks and repairs, which compare them
    /// with what is stored).
    func entries(_ schema: Schema) -> [(Database, [UInt8])] {
        Index.allCases.filter(has).map { index in
            var key: [UInt8] = []
            self.key(index, into: &key)
            return (index.database(schema), key)
        }
    }

    /// What its entry in `database` holds (before its checksum): ``body(_:)`` of that index.
    func body(of database: Database, _ schema: Schema) -> [UInt8] {
        Index.allCases.first { $0.database(schema) == database }.map(body) ?? []
    }

    func contains(_ database: Database, _ key: [UInt8], _ schema: Schema) -> Bool {
        guard let index = Index.allCases.first(where: { $0.database(schema) == database }), has(index) else { return false }
        var mine: [UInt8] = []
        self.key(index, into: &mine)
        return mine == key
    }
}
