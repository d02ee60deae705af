import LMDB
public import LongrunDomain

/// Reads of one consistent snapshot of the store. Valid only inside ``Store/read(_:)`` or
/// ``Store/write(_:)``.
public struct StoreReader {
    let txn: ReadTransaction
    let schema: Schema

    /// Sequence of the last event folded into the views.
    public func appliedSequence() throws -> UInt64 {
        guard let value = try txn.get(schema.meta, key: Schema.MetaKey.appliedSequence) else { return 0 }
        guard let sequence = Keys.decodeSequence(value) else {
            throw StoreError(.dataLoss, "meta applied_sequence has \(value.count) bytes, expected 8")
        }
        return sequence
    }

    func formatVersion() throws -> UInt32? {
        try Schema.formatVersion(in: txn, meta: schema.meta)
    }

    /// Sequence of the newest event in the log; 0 when the store has none. Of a log compacted to
    /// nothing (builds before 2026-12-03 could drop the newest event too), the applied sequence:
    /// the newest event the views folded, which was the head, and which the next event follows
    /// (its chain hash is the base hash).
    public func logHead() throws -> UInt64 {
        try txn.withCursor(schema.log) { cursor in
            guard let (key, _) = try cursor.last() else { return try appliedSequence() }
            guard let sequence = Keys.decodeSequence(key) else { throw StoreError(.dataLoss, "log key of \(key.count) bytes") }
            return sequence
        }
    }

    /// The chain hash of the newest event in the log, or the base hash when the log is empty
    /// (genesis, or the hash of the last event compacted away).
    public func headHash() throws -> ChainHash {
        try txn.withCursor(schema.log) { cursor in
            guard let (key, value) = try cursor.last() else { return try baseHash() }
            guard let sequence = Keys.decodeSequence(key) else { throw StoreError(.dataLoss, "log key of \(key.count) bytes") }
            return try LogEntry.open(value, sequence: sequence).hash
        }
    }

    /// The chain hash of the event at `sequence` (the base hash for the last compacted one); nil if
    /// the log cannot tell (further back than that, or beyond the head).
    public func chainHash(at sequence: UInt64) throws -> ChainHash? {
        if let value = try txn.get(schema.log, key: Keys.sequence(sequence)) { return try LogEntry.open(value, sequence: sequence).hash }
        let tail = try logTail() ?? (try logHead() + 1)
        return sequence + 1 == tail ? try baseHash() : nil
    }

    /// The newest event a whole-log check found the chain intact through, and its chain hash.
    public func verifiedLog() throws -> (sequence: UInt64, hash: ChainHash)? {
        guard let value = try txn.get(schema.meta, key: Schema.MetaKey.verifiedLog) else { return nil }
        guard value.count == 8 + ChainHash.byteCount, let sequence = Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: value[0..<8])) else {
            throw StoreError(.dataLoss, "meta verified_log has \(value.count) bytes, expected 40")
        }
        return (sequence, ChainHash(bytes: Array(value[8...])))
    }

    /// The chain hash before the first retained event: genesis unless the log was compacted.
    public func baseHash() throws -> ChainHash {
        guard let value = try txn.get(schema.meta, key: Schema.MetaKey.logBaseHash) else { return .genesis }
        guard value.count == ChainHash.byteCount else { throw StoreError(.dataLoss, "meta log_base_hash has \(value.count) bytes") }
        return ChainHash(bytes: Array(value))
    }

    /// The bytes the log takes on disk per event, on average (its pages over its entries); 0 when
    /// empty. What the snapshot cadence measures log growth in, without reading the log.
    public func logBytesPerEvent() throws -> Double {
        let (entries, bytes) = try txn.statistics(schema.log)
        return entries == 0 ? 0 : Double(bytes) / Double(entries)
    }

    /// What a snapshot would copy, as LMDB counts it without reading it: the operations' records
    /// (live ones and tombstones) and the bytes of their pages (free space included).
    public func snapshotSource() throws -> (records: Int, pageBytes: Int) {
        var total = (records: 0, pageBytes: 0)
        for database in schema.records {
            let (entries, bytes) = try txn.statistics(database)
            total.records += entries
            total.pageBytes += bytes
        }
        return total
    }

    /// Sequence of the oldest event still in the log; nil when the log is empty.
    public func logTail() throws -> UInt64? {
        try txn.withCursor(schema.log) { cursor in
            guard let (key, _) = try cursor.first() else { return nil }
            return Keys.decodeSequence(key)
        }
    }

    /// ``Schema/MetaKey/forgottenThrough``: nil in a store never compacted, or compacted only by
    /// builds that kept every tombstone.
    func forgottenThrough() throws -> UInt64? {
        try txn.get(schema.meta, key: Schema.MetaKey.forgottenThrough).flatMap(Keys.decodeSequence)
    }

    /// The state of `name`, deleted ones included (check ``OperationState/isDeleted``).
    public func operation(_ name: OperationName) throws -> OperationState? {
        guard let found = try record(Keys.name(name)) else { return nil }
        guard let body = found.key.withUnsafeBytes({ Checksum.body(key: $0, value: found.value) }) else {
            throw StoreError.damaged(DamagedRecord(database: found.database.name, key: found.key, operation: name))
        }
        let state = try decodeState(body, key: name.description)
        guard state.name == name else {
            throw StoreError(.dataLoss, """
                the names entry of \(name) gives the record of \(state.name), so it is not served. \(StoreError.repairAdvice(name))
                """, damage: DamagedRecord(database: schema.names.name, key: Keys.name(name)))
        }
        return state
    }

    /// A stored record (checksum and body) as found by its operation's name: the database it is in
    /// (``Schema/records``) and its key there.
    struct FoundRecord {
        let database: Database
        let key: [UInt8]
        let value: UnsafeRawBufferPointer
    }

    /// The stored record of the operation named by `name` (its UTF-8): in `operations` or
    /// `done_by_creation` under the create sequence its `names` entry gives, else in `tombstones`.
    func record(_ name: [UInt8]) throws -> FoundRecord? {
        if let entry = try txn.get(schema.names, key: name) {
            return try name.withUnsafeBytes { try liveRecord(name: $0, entry: entry) }
        }
        return try txn.get(schema.tombstones, key: name).map { FoundRecord(database: schema.tombstones, key: name, value: $0) }
    }

    /// The live record the `names` entry `entry` of `name` gives (as read from `names`, checksum
    /// included).
    func liveRecord(name: UnsafeRawBufferPointer, entry stored: UnsafeRawBufferPointer) throws -> FoundRecord {
        let entry = try Checksum.open(schema.names, key: name, value: stored)
        var text: String { String(decoding: name, as: UTF8.self) }  // for an error only
        guard let sequence = Keys.decodeSequence(entry) else {
            throw StoreError(.dataLoss, "the names entry of \(text) holds \(entry.count) bytes, not a create sequence. \(StoreError.repairAdvice(text))",
                             damage: DamagedRecord(database: schema.names.name, key: Array(name)))
        }
        guard let found = try liveRecord(under: Keys.sequence(sequence)) else {
            throw StoreError(.dataLoss, "\(text) has no record under the create sequence its names entry gives (\(sequence)). \(StoreError.repairAdvice(text))",
                             damage: DamagedRecord(database: schema.names.name, key: Array(name)))
        }
        return found
    }

    /// The live record under the create sequence `key`, in whichever database of live records
    /// holds it (``Schema/liveRecords``): running ones first, so a done one costs one more search
    /// and a running one none.
    func liveRecord(under key: [UInt8]) throws -> FoundRecord? {
        for database in schema.liveRecords {
            if let value = try txn.get(database, key: key) { return FoundRecord(database: database, key: key, value: value) }
        }
        return nil
    }

    /// The body of the value under `key` in `database` if present, checked against its checksum
    /// (a `DATA_LOSS` ``StoreError`` naming the record if it fails).
    func checkedGet(_ database: Database, key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        guard let value = try txn.get(database, key: key) else { return nil }
        return try Checksum.open(database, key: key, value: value)
    }

    /// The operation that `requestID` created in `collection`, if any.
    public func operation(forRequestID requestID: String, in collection: CollectionName) throws -> OperationState? {
        guard let value = try checkedGet(schema.requestIDs, key: Keys.requestID(collection, requestID)) else { return nil }
        return try operation(OperationName(parsing: value))
    }

    /// The event at `sequence`, if the log holds it.
    public func event(at sequence: UInt64) throws -> Event? {
        guard let value = try txn.get(schema.log, key: Keys.sequence(sequence)) else { return nil }
        return try decodeEvent(value, sequence: sequence)
    }

    /// Up to `limit` events of the log with sequence greater than `after`, in order.
    public func events(after: UInt64, limit: Int) throws -> [Event] {
        try txn.withCursor(schema.log) { cursor in
            var events: [Event] = []
            var entry = try cursor.seek(atLeast: Keys.sequence(after &+ 1))
            while let (key, value) = entry, events.count < limit {
                let sequence = Keys.decodeSequence(key) ?? 0
                events.append(try decodeEvent(value, sequence: sequence))
                entry = try cursor.next()
            }
            return events
        }
    }

    /// Up to `limit` events of `name` (deleted operations included) with sequence greater than `after`.
    public func events(of name: OperationName, after: UInt64, limit: Int) throws -> [Event] {
        // The entries are under the operation's create sequence, which its record holds.
        guard let createSequence = try operation(name)?.createSequence else { return [] }
        return try events(of: name, createdAt: createSequence, after: after, limit: limit)
    }

    /// ``events(of:after:limit:)`` for an operation whose create sequence is known.
    func events(of name: OperationName, createdAt createSequence: UInt64, after: UInt64, limit: Int) throws -> [Event] {
        let prefix = Keys.historyPrefix(createSequence: createSequence)
        let sequences: [UInt64] = try txn.withCursor(schema.history) { cursor in
            var sequences: [UInt64] = []
            var entry = try cursor.seek(atLeast: prefix + Keys.sequence(after &+ 1))
            while let (key, value) = entry, sequences.count < limit, Keys.hasPrefix(key, prefix) {
                _ = try Checksum.open(schema.history, key: key, value: value)
                guard key.count == prefix.count + 8 else { break }
                sequences.append(Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) ?? 0)
                entry = try cursor.next()
            }
            return sequences
        }
        return try sequences.map { sequence in
            guard let event = try event(at: sequence) else {
                throw StoreError(.dataLoss, "history of \(name) names sequence \(sequence), which is not in the log")
            }
            guard event.name == name else {
                throw StoreError(.dataLoss, "history of \(name) names sequence \(sequence), which is an event of \(event.name)")
            }
            return event
        }
    }

    /// Running operations whose engine deadline (a cancel grace, a lease) is at or before `now`,
    /// earliest first, after the entry `after` when given (the last of the previous page), and the
    /// next deadline after those (for the sweeper to sleep until, or to read on from). An entry that
    /// fails its checksum is passed to `damaged` and skipped, so one damaged entry does not stop the
    /// others' deadlines (the scrub reports it; repair rebuilds it).
    public func engineDeadlines(dueBy now: Timestamp, after: EngineDeadline? = nil, limit: Int,
                                damaged: (DamagedRecord) -> Void = { _ in }) throws -> (due: [EngineDeadline], next: Timestamp?) {
        try txn.withCursor(schema.engineDeadlines) { cursor in
            var due: [EngineDeadline] = []
            var entry: LMDB.Cursor.Entry?
            if let after {
                let position = Keys.deadline(after.deadline, after.name)
                entry = try cursor.seek(atLeast: position)
                if let (key, _) = entry, key.elementsEqual(position) { entry = try cursor.next() }
            } else {
                entry = try cursor.first()
            }
            while let (key, value) = entry {
                guard Checksum.body(key: key, value: value) != nil else {
                    damaged(DamagedRecord(database: schema.engineDeadlines.name, key: Array(key)))
                    entry = try cursor.next()
                    continue
                }
                guard let (deadline, name) = Keys.decodeDeadline(key) else {
                    throw StoreError(.dataLoss, "engine_deadlines key of \(key.count) bytes")
                }
                if deadline > now || due.count >= limit { return (due, deadline) }
                due.append(EngineDeadline(deadline: deadline, name: try OperationName(parsing: name)))
                entry = try cursor.next()
            }
            return (due, nil)
        }
    }

    /// Done operations whose time to live under `policy` has passed by `now` (held ones are never
    /// candidates), up to `limit`. Entries that fail their checksum are passed to `damaged` and skipped.
    public func expiredByRetention(_ policy: RetentionPolicy, now: Timestamp, limit: Int,
                                   damaged: (DamagedRecord) -> Void = { _ in }) throws -> [OperationName] {
        var due: [OperationName] = []
        for outcomeClass in RetentionPolicy.OutcomeClass.allCases {
            guard let ttl = policy.timeToLive(outcomeClass), due.count < limit else { continue }
            let cutoff = now - ttl
            try txn.withCursor(schema.expiryCandidates) { cursor in
                var entry = try cursor.seek(atLeast: [outcomeClass.rawValue])
                while let (key, value) = entry, key.first == outcomeClass.rawValue, due.count < limit {
                    guard Checksum.body(key: key, value: value) != nil else {
                        damaged(DamagedRecord(database: schema.expiryCandidates.name, key: Array(key)))
                        entry = try cursor.next()
                        continue
                    }
                    guard let (end, name) = Keys.decodeDeadline(UnsafeRawBufferPointer(rebasing: key[1...])) else {
                        throw StoreError(.dataLoss, "expiry_candidates key of \(key.count) bytes")
                    }
                    guard end <= cutoff else { break }
                    due.append(try OperationName(parsing: name))
                    entry = try cursor.next()
                }
            }
        }
        return due
    }

    /// Number of live operations in the views (not deleted).
    public func liveOperationCount() throws -> Int { try txn.count(schema.byCreation) }
    public func runningOperationCount() throws -> Int { try txn.count(schema.running) }

    /// `key` names the record in the error, and is built only then. `value`: a record's body,
    /// its checksum verified (``Checksum/body(key:value:)``), so its name's shape alone is checked.
    func decodeState(_ value: UnsafeRawBufferPointer, key: @autoclosure () -> String, strings: RecordStrings? = nil) throws -> OperationState {
        do {
            return try RecordCodec.decodeState(value, strings: strings, nameAsStored: true)
        } catch {
            throw StoreError(.dataLoss, "the view of \(key()) cannot be decoded (\(error)); run `longrun-replay verify`")
        }
    }

    /// The names of the operations whose first event in the log after `sequence` (through
    /// `last`) is a repair: a tombstone repaired after a snapshot was taken has its last event
    /// after it, so compaction through the snapshot kept it, although the snapshot's record of it
    /// says it is older (``SnapshotFile`` loading). A name whose first such event is a `created`
    /// was forgotten before it was created again, and is not among them. Reads nothing of a log
    /// never compacted (none is forgotten there).
    func namesRepairedFirst(after sequence: UInt64, through last: UInt64 = .max) throws -> Set<OperationName> {
        var (repaired, seen): (Set<OperationName>, Set<OperationName>) = ([], [])
        guard let tail = try logTail(), tail > 1 else { return repaired }
        try txn.withCursor(schema.log) { cursor in
            var entry = try cursor.seek(atLeast: Keys.sequence(sequence + 1))
            while let (key, value) = entry, let sequence = Keys.decodeSequence(key), sequence <= last {
                let event = try decodeEvent(value, sequence: sequence)
                if seen.insert(event.name).inserted, case .repaired = event.kind { repaired.insert(event.name) }
                entry = try cursor.next()
            }
        }
        return repaired
    }

    func decodeEvent(_ value: UnsafeRawBufferPointer, sequence: UInt64) throws -> Event {
        try decodeEvent(value, sequence: sequence, strings: nil, resolveName: RecordCodec.eventName)
    }

    /// ``decodeEvent(_:sequence:)`` for a reader of many events (replay): see
    /// ``RecordCodec/decodeEvent(_:strings:resolveName:)``.
    func decodeEvent(_ value: UnsafeRawBufferPointer, sequence: UInt64, strings: RecordStrings?,
                     resolveName: (UnsafeRawBufferPointer) throws(CodecError) -> OperationName) throws -> Event {
        let record = try LogEntry.record(value, sequence: sequence)
        do {
            return try RecordCodec.decodeEvent(record, strings: strings, expectedSequence: sequence, resolveName: resolveName)
        } catch {
            throw StoreError(.dataLoss, "log event \(sequence) cannot be decoded (\(error)); run `longrun-replay verify`")
        }
    }
}
