import LMDB
public import LongrunDomain

/// What ``Store/repair(_:operations:actor:now:access:progress:)`` did.
public struct RepairReport: Sendable {
    /// Operations whose views were rebuilt from their events; each gained a `repaired` event.
    public var repaired: [OperationName] = []
    /// Damaged or stale index, history and view entries that were dropped.
    public var droppedEntries = 0
    /// What the log cannot rebuild (damaged events, snapshots, operations whose early events were
    /// compacted with no snapshot to start from).
    public var unrepairable: [IntegrityFinding] = []
    /// What a check of the repaired operations still finds: empty when the repair worked.
    public var remaining: [IntegrityFinding] = []
    /// The `repaired` events appended, and the log head after them.
    public var events: [Event] = []
    public var head: UInt64 = 0

    public init() {}
}

extension Store {
    /// Rebuilds from the log what `findings` (from a ``Scrubber`` pass) say is damaged, and the
    /// views of `operations`.
    ///
    /// For each operation concerned: folds its events again (from the newest snapshot when its early
    /// events were compacted), replaces its record, its history entries and every index entry that
    /// refers to it, and records a `repaired` event through ``Lifecycle/decide(_:state:context:)``.
    /// Damaged and stale entries the findings name are dropped. All of it happens in one write
    /// transaction, after one read-only scan of the log; then the repaired operations are checked
    /// again. A damaged log cannot be repaired from itself: FAILED_PRECONDITION, nothing changed.
    public func repair(_ findings: [IntegrityFinding], operations: Set<OperationName> = [], actor: Actor, now: Timestamp,
                       access: Access = .unrestricted, progress: StoreProgressHandler? = nil) throws -> RepairReport {
        var report = RepairReport()
        report.unrepairable = findings.filter { !$0.repairable }
        var names = operations
        for finding in findings where finding.repairable { if let name = finding.operation { names.insert(name) } }
        let drops = findings.filter { $0.repairable && $0.key != nil && [.damagedRecord, .indexStale, .historyStale].contains($0.kind) }
        guard !names.isEmpty || !drops.isEmpty else {
            report.head = try read { try $0.logHead() }
            return report
        }
        var details: [OperationName: [String]] = [:]
        for finding in findings where finding.repairable {
            guard let name = finding.operation else { continue }
            let text = "\(finding.kind.rawValue) in \(finding.database)"
            if details[name, default: []].contains(text) == false { details[name, default: []].append(text) }
        }

        // 1. The events of every operation concerned, from one scan of the log.
        let (events, scannedThrough, tail) = try eventsOf(names, progress: progress)
        // 2. Where the early events were compacted, the state in the newest snapshot is the start.
        var bases: [OperationName: (state: OperationState, sequence: UInt64)] = [:]
        let needBase = names.filter { name in events[name]?.first.map { if case .created = $0.kind { false } else { true } } ?? true }
        if tail > 1, !needBase.isEmpty {
            if let snapshot = try usableSnapshot(upTo: scannedThrough) {
                let records = try SnapshotFile.operationRecords(snapshot, names: Set(needBase.map(Keys.name)))
                for name in needBase {
                    guard let body = records[Keys.name(name)] else { continue }
                    let state = try body.withUnsafeBytes { try decodeSnapshotState($0, name: name, path: snapshot.path) }
                    bases[name] = (state, snapshot.sequence)
                }
            }
        }

        let notRepairable = report.unrepairable
        let scanned = events
        try write { writer in
            // The body may run again if the map had to grow: start from the same place each time.
            report.unrepairable = notRepairable
            report.repaired = []
            report.events = []
            report.droppedEntries = 0
            var events = scanned
            let reader = writer.reader
            // Events committed since the scan.
            if scannedThrough < writer.head {
                try collectEvents(of: names, from: scannedThrough + 1, through: writer.head, reader: reader, into: &events)
            }
            for finding in drops {
                guard let key = finding.key, let database = schema.checksummed.first(where: { $0.name == finding.database }),
                      let value = try writer.txn.get(database, key: key)
                else { continue }
                let stillDamaged = key.withUnsafeBytes { Checksum.body(key: $0, value: value) } == nil
                if finding.kind != .damagedRecord || stillDamaged {
                    _ = try writer.txn.delete(database, key: key)
                    report.droppedEntries += 1
                }
            }
            // Every entry that refers to an operation about to be rebuilt goes first, in one pass
            // over each index (a repair of many operations must not scan the indexes once each).
            // History entries are under a create sequence: the one the log's creation or the
            // snapshot's state gives (a stored record's is taken only where the log confirms it).
            var createSequences: Set<UInt64> = []
            for name in names {
                if let created = events[name]?.first(where: { if case .created = $0.kind { true } else { false } }) {
                    createSequences.insert(created.sequence)
                }
                if let base = bases[name] { createSequences.insert(base.state.createSequence) }
            }
            let (removed, hadRecords) = try removeEntries(of: names, historyUnder: createSequences, writer: writer)
            report.droppedEntries += removed
            for name in names.sorted(by: { $0.description < $1.description }) {
                let operationEvents = events[name] ?? []
                let base = bases[name]
                if base == nil, tail > 1, operationEvents.first.map({ if case .created = $0.kind { false } else { true } }) ?? true {
                    // Neither the log nor a snapshot can say what this operation was.
                    report.unrepairable.append(IntegrityFinding(kind: .viewDiffers, database: schema.names.name, key: Keys.name(name), operation: name, message: """
                        \(name) cannot be rebuilt: its early events were compacted and no usable snapshot holds it. \
                        Restore the data directory from a backup
                        """))
                    continue
                }
                var state = base?.state
                var historySequences: [UInt64] = []
                for event in operationEvents {
                    if let base, event.sequence <= base.sequence {
                        historySequences.append(event.sequence)
                    } else if Lifecycle.apply(&state, event) {
                        historySequences.append(event.sequence)
                    }
                }
                guard let state else {
                    // The log never created it: whatever is stored under its name is not an operation.
                    if hadRecords.contains(name) { report.droppedEntries += 1 }
                    continue
                }
                try writer.putRecord(state, previous: nil)
                for sequence in historySequences where sequence >= tail {
                    try writer.putSealed(schema.history, key: Keys.history(createSequence: state.createSequence, sequence), body: [])
                }
                let entries = IndexEntries(state)
                for (database, key) in entries.entries(schema) {
                    try writer.putSealed(database, key: key, body: entries.body(of: database, schema))
                }
                let detail = String((details[name] ?? ["rebuilt on request"]).joined(separator: "; ").prefix(Limits.maximumReasonBytes / 4))
                let context = Lifecycle.Context(now: now, actor: actor, defaultCancelGrace: Lifecycle.defaultCancelGrace, access: access)
                let decision = try Lifecycle.decide(.recordRepair(name: name, detail: detail), state: state, context: context)
                report.events += try writer.append(decision.events, name: name, time: now, current: state).events
                report.repaired.append(name)
            }
            report.head = writer.head
        }

        // 3. Check what was repaired.
        report.remaining = try Scrubber(store: self).check(operations: report.repaired)
        return report
    }

    /// Every event of `names` in the retained log, the sequence the scan reached, and the log's tail.
    private func eventsOf(_ names: Set<OperationName>, progress: StoreProgressHandler?) throws
        -> (events: [OperationName: [Event]], through: UInt64, tail: UInt64)
    {
        let (tail, head) = try read { reader in (try reader.logTail() ?? 1, try reader.logHead()) }
        var events: [OperationName: [Event]] = [:]
        var next = tail
        let chunk: UInt64 = 50_000
        while next <= head {
            let last = min(head, next + chunk - 1)
            try read { reader in try collectEvents(of: names, from: next, through: last, reader: reader, into: &events) }
            progress?(StoreProgress(phase: "reading the log", done: last - tail + 1, total: head - tail + 1))
            next = last + 1
        }
        return (events, head, tail)
    }

    private func collectEvents(of names: Set<OperationName>, from: UInt64, through: UInt64, reader: StoreReader,
                               into events: inout [OperationName: [Event]]) throws {
        try reader.txn.withCursor(schema.log) { cursor in
            var entry = try cursor.seek(atLeast: Keys.sequence(from))
            while let (key, value) = entry, let sequence = Keys.decodeSequence(key), sequence <= through {
                let event: Event
                do {
                    event = try reader.decodeEvent(value, sequence: sequence)
                } catch {
                    throw DomainError(.failedPrecondition, reason: .logDamaged, """
                        the log itself is damaged at event \(sequence), so no view is rebuilt from it (nothing was changed): \(error). \
                        See the extent with `longrun-replay verify`, and restore the data directory from a backup
                        """)
                }
                if names.contains(event.name) { events[event.name, default: []].append(event) }
                entry = try cursor.next()
            }
        }
    }

    /// Deletes the record, the history entries and every index entry that refer to any of `names`,
    /// in one pass over each index (and a range per collection where the key says which); returns
    /// how many entries went, records not counted, and the names that had a record. History entries
    /// and live records go under each of `createSequences`, and under a current record's create
    /// sequence where the log holds that operation's creation there (a live record also under the
    /// one its `names` entry gives, if it is this operation's:
    /// ``StoreWriter/deleteRecord(of:under:)``).
    private func removeEntries(of names: Set<OperationName>, historyUnder createSequences: Set<UInt64>,
                               writer: StoreWriter) throws -> (removed: Int, hadRecords: Set<OperationName>) {
        let txn = writer.txn
        let nameKeys = Set(names.map(Keys.name))
        var doomed: [(Database, [UInt8])] = []
        var createSequences = createSequences
        // What each current record implies, when it can still be read.
        for name in names {
            guard let old = try? writer.reader.operation(name) else { continue }
            doomed += IndexEntries(old).entries(schema)
            if let created = try? writer.reader.event(at: old.createSequence), created.name == name, case .created = created.kind {
                createSequences.insert(old.createSequence)
            }
        }
        func scan(_ database: Database, from prefix: [UInt8], refersToName: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws {
            try txn.withCursor(database) { cursor in
                var entry = prefix.isEmpty ? try cursor.first() : try cursor.seek(atLeast: prefix)
                while let (key, value) = entry, prefix.isEmpty || Keys.hasPrefix(key, prefix) {
                    if refersToName(key, value) { doomed.append((database, Array(key))) }
                    entry = try cursor.next()
                }
            }
        }
        /// The body of a name-valued entry, checksum or not: a damaged entry that names one goes too.
        func namedBy(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
            let body = Checksum.body(key: key, value: value) ?? UnsafeRawBufferPointer(rebasing: value[min(value.count, Checksum.byteCount)...])
            return nameKeys.contains(Array(body))
        }
        for createSequence in createSequences {
            try scan(schema.history, from: Keys.historyPrefix(createSequence: createSequence)) { _, _ in true }
        }
        for collection in Set(names.map(\.collection)) {
            let prefix = Keys.collectionPrefix(collection)
            for database in [schema.byCreation, schema.running, schema.requestIDs] { try scan(database, from: prefix, refersToName: namedBy) }
        }
        // Keys end with the name, after a fixed-width deadline (and an outcome class).
        try scan(schema.engineDeadlines, from: []) { key, _ in key.count > 8 && nameKeys.contains(Array(key[8...])) }
        try scan(schema.expiryCandidates, from: []) { key, _ in key.count > 9 && nameKeys.contains(Array(key[9...])) }
        // Records (not counted): each name's tombstone, `names` entry and live record, under the
        // create sequence that entry gives or one confirmed above.
        var hadRecords: Set<OperationName> = []
        for name in names where try writer.deleteRecord(of: name, under: createSequences) { hadRecords.insert(name) }
        var removed = 0
        for (database, key) in doomed where try txn.delete(database, key: key) { removed += 1 }
        return (removed, hadRecords)
    }

    private func decodeSnapshotState(_ body: UnsafeRawBufferPointer, name: OperationName, path: String) throws -> OperationState {
        do {
            return try RecordCodec.decodeState(body)
        } catch {
            throw StoreError(.dataLoss, "snapshot \(path) holds an undecodable record of \(name): \(error)")
        }
    }
}

extension Scrubber {
    /// Checks `operations` as a pass would (checksum, fold, the index entries their states imply);
    /// returns what it finds.
    public func check(operations: [OperationName]) throws -> [IntegrityFinding] {
        let schema = store.schema
        return try store.read { reader in
            let tail = try reader.logTail() ?? 1
            for name in operations {
                let nameKey = Keys.name(name)
                var stored: [(Database, [UInt8])] = [(schema.tombstones, nameKey)]
                if let value = try reader.txn.get(schema.names, key: nameKey) {
                    guard let body = nameKey.withUnsafeBytes({ Checksum.body(key: $0, value: value) }), let sequence = Keys.decodeSequence(body) else {
                        record(IntegrityFinding(damaged: DamagedRecord(database: schema.names.name, key: nameKey)))
                        continue
                    }
                    stored += schema.liveRecords.map { ($0, Keys.sequence(sequence)) }
                }
                for (database, key) in stored {
                    guard let value = try reader.txn.get(database, key: key) else { continue }
                    guard let body = key.withUnsafeBytes({ k in Checksum.body(key: k, value: value).map(Array.init) }) else {
                        record(IntegrityFinding(damaged: DamagedRecord(database: database.name, key: key, operation: name)))
                        continue
                    }
                    try checkOperation(database, key: key, body: body, reader: reader, tail: tail)
                }
            }
            return findings
        }
    }
}
