import LMDB
import LongrunDomain

/// Walks a whole store in small steps, checking everything that can be checked without another
/// copy of it: the log's chain and checksums from its base to its head, every view record's
/// checksum, every operation's state against the fold of its events, every index entry against
/// the state that implies it (both ways), every history entry against the log, and every
/// snapshot's digest.
///
/// Each ``step(budget:)`` is one read transaction over at most `budget` records, so a caller can
/// throttle a pass to a small share of a core and the daemon keeps serving meanwhile. What one
/// step checks is consistent in itself; records changed between steps are checked as they are
/// when reached. Operations whose early events were compacted are checked against their
/// checksums and indexes only (their fold needs a snapshot: `longrun-replay verify` does that).
public final class Scrubber {
    private enum Phase {
        case log(next: UInt64?, hash: ChainHash)
        case views(index: Int, after: [UInt8]?)
        /// Oldest last in `remaining` (checked first), so that bases are checked before the
        /// differentials on them; `damaged` holds the snapshots found damaged so far.
        case snapshots(remaining: [SnapshotFile.Info], damaged: Set<String>)
        case finished
    }

    let store: Store
    private var phase: Phase = .log(next: nil, hash: .genesis)
    private var seen: Set<IntegrityFinding> = []
    /// What this pass has found so far, in the order found.
    public private(set) var findings: [IntegrityFinding] = []
    /// Records checked so far.
    public private(set) var checked: UInt64 = 0
    /// The newest event through which this pass found the log's chain and checksums intact, once
    /// its log phase is over and found nothing (``Store/recordVerifiedLog(through:hash:)``).
    public private(set) var verifiedLog: (sequence: UInt64, hash: ChainHash)?
    private var logIsClean = true
    /// The operation whose record the last history entry checked was found under, in the views
    /// step under way: the next entries under the same create sequence need not read it again.
    private var historyOwner: (createSequence: UInt64, name: OperationName)?
    /// The newest usable snapshot's sequence when the pass began, for wording log findings.
    private var newestSnapshot: UInt64?
    public var isFinished: Bool { if case .finished = phase { true } else { false } }

    public init(store: Store) {
        self.store = store
    }

    /// Runs a whole pass at once (for `longrun-replay` and tests).
    public static func run(_ store: Store, progress: StoreProgressHandler? = nil) throws -> [IntegrityFinding] {
        let scrubber = Scrubber(store: store)
        while try scrubber.step(budget: 20_000) {
            progress?(StoreProgress(phase: "scrubbing (\(scrubber.phaseName))", done: scrubber.checked, total: 0))
        }
        return scrubber.findings
    }

    /// What the pass is checking now, for progress reports.
    public var phaseName: String {
        switch phase {
        case .log: "log"
        case .views(let index, _): store.schema.views[min(index, store.schema.views.count - 1)].name
        case .snapshots: "snapshots"
        case .finished: "finished"
        }
    }

    /// Checks up to `budget` more records; returns false once the pass is complete.
    public func step(budget: Int) throws -> Bool {
        switch phase {
        case .log(let next, let hash):
            phase = try checkLog(from: next, hash: hash, budget: budget)
        case .views(let index, let after):
            phase = try checkViews(index: index, after: after, budget: budget)
        case .snapshots(var remaining, var damaged):
            if let snapshot = remaining.popLast() {
                checked += 1
                let path = snapshot.path
                do { _ = try SnapshotFile.verify(path) } catch {
                    damaged.insert(path)
                    record(IntegrityFinding(kind: .snapshotDamaged, database: path, message: """
                        snapshot \(path) is damaged (\(error)). The views and the log do not depend on it; delete it, \
                        and the next scheduled snapshot (or `longrun snapshot`) replaces it
                        """))
                }
                if snapshot.isDifferential, !damaged.contains(path) {
                    // Restorable only with its base, the one it names, intact (checked before it).
                    do { try SnapshotFile.checkBase(of: snapshot, damaged: damaged) } catch {
                        record(IntegrityFinding(kind: .snapshotDamaged, database: path, message: """
                            \((error as? StoreError)?.message ?? "\(error)"). The views and the log do not depend on it; delete it, \
                            and the next scheduled snapshot (or `longrun snapshot`) replaces it
                            """))
                    }
                }
                phase = .snapshots(remaining: remaining, damaged: damaged)
            } else {
                phase = .finished
            }
        case .finished:
            return false
        }
        return !isFinished
    }

    func record(_ finding: IntegrityFinding) {
        if finding.database == "log" { logIsClean = false }
        if seen.insert(finding).inserted { findings.append(finding) }
    }

    // MARK: The log

    private func checkLog(from start: UInt64?, hash startHash: ChainHash, budget: Int) throws -> Phase {
        let schema = store.schema
        // Read once per pass (a step must not list the snapshot folder again): only findings need it.
        if start == nil { newestSnapshot = try store.usableSnapshot(upTo: .max, checkContents: false)?.sequence }
        let newestSnapshot = self.newestSnapshot
        return try store.read { reader in
            guard let tail = try reader.logTail() else { return .views(index: 0, after: nil) }
            var expected = start ?? tail
            var hash = startHash
            if start == nil || expected < tail {
                // A new pass, or compaction dropped what the pass had not reached: start at the base.
                expected = tail
                hash = try reader.baseHash()
                logIsClean = true
            }
            var count = 0
            return try reader.txn.withCursor(schema.log) { cursor in
                var entry = try cursor.seek(atLeast: Keys.sequence(expected))
                while let (key, value) = entry {
                    guard count < budget else { return .log(next: expected, hash: hash) }
                    count += 1
                    checked += 1
                    let sequence = Keys.decodeSequence(key) ?? 0
                    if sequence != expected {
                        record(IntegrityFinding(kind: .logGap, database: "log", sequence: expected,
                                                message: "event \(expected) is missing from the log (the next present is \(sequence))"))
                        expected = sequence
                    }
                    // Worded only when there is a finding to word.
                    var where_: String { Self.whereInLog(sequence, newestSnapshot: newestSnapshot) }
                    if let (stored, record) = LogEntry.split(value) {
                        if hash.next(record: record) != stored {
                            self.record(IntegrityFinding(kind: .brokenChain, database: "log", key: Array(key), sequence: sequence, message: """
                                event \(sequence) does not match its chain hash: it was damaged or edited. \(where_)
                                """))
                        } else if !LogEntry.checksumHolds(value, sequence: sequence) {
                            self.record(IntegrityFinding(kind: .damagedRecord, database: "log", key: Array(key), sequence: sequence, message: """
                                event \(sequence) fails its checksum although its chain holds (its checksum bytes were damaged). \(where_)
                                """))
                        } else if (try? RecordCodec.decodeEvent(record))?.sequence != sequence {
                            self.record(IntegrityFinding(kind: .damagedRecord, database: "log", key: Array(key), sequence: sequence,
                                                         message: "event \(sequence) cannot be decoded or names another sequence. \(where_)"))
                        }
                        // Go on from the stored hash: one damaged event is one finding, not one per later event.
                        hash = stored
                    } else {
                        record(IntegrityFinding(kind: .damagedRecord, database: "log", key: Array(key), sequence: sequence,
                                                message: "event \(sequence) is too short to hold a chain hash. \(where_)"))
                    }
                    expected = sequence + 1
                    entry = try cursor.next()
                }
                if logIsClean, expected > tail { verifiedLog = (expected - 1, hash) }
                return .views(index: 0, after: nil)
            }
        }
    }

    /// What a damaged event means, by where it is.
    static func whereInLog(_ sequence: UInt64, newestSnapshot: UInt64?) -> String {
        if let newestSnapshot, sequence <= newestSnapshot {
            return """
                It is before the newest snapshot (\(newestSnapshot)), so the views and recovery do not need it and are intact; \
                reading it (history, watch) answers DATA_LOSS. It cannot be rebuilt: restore the data directory from a backup \
                to get it back (`longrun-replay verify` lists every damaged event)
                """
        }
        return """
            It is after the newest snapshot, so the daemon will refuse to restart on this log. Restore the data directory \
            from a backup, or build a store from the log before it with `longrun-replay rebuild --until \(sequence - 1)`
            """
    }

    // MARK: The views

    private func checkViews(index: Int, after: [UInt8]?, budget: Int) throws -> Phase {
        let schema = store.schema
        guard index < schema.views.count else {
            return .snapshots(remaining: try SnapshotFile.list(in: store.snapshotDirectory), damaged: [])
        }
        let database = schema.views[index]
        return try store.read { reader in
            let tail = try reader.logTail() ?? 1
            historyOwner = nil  // known within this read transaction only
            var collected: [([UInt8], [UInt8])] = []
            let more: Bool = try reader.txn.withCursor(database) { cursor in
                var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
                if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
                while let (key, value) = entry {
                    guard collected.count < budget else { return true }
                    collected.append((Array(key), Array(value)))
                    entry = try cursor.next()
                }
                return false
            }
            for (key, value) in collected {
                checked += 1
                let body: [UInt8]? = key.withUnsafeBytes { key in value.withUnsafeBytes { Checksum.body(key: key, value: $0).map(Array.init) } }
                guard let body else {
                    record(IntegrityFinding(damaged: DamagedRecord(database: database.name, key: key, operation: creator(key, database, reader))))
                    continue
                }
                try checkEntry(database, key: key, body: body, reader: reader, tail: tail)
            }
            guard more, let last = collected.last?.0 else { return .views(index: index + 1, after: nil) }
            return .views(index: index, after: last)
        }
    }

    /// Checks one view entry whose checksum holds against what the rest of the store implies.
    private func checkEntry(_ database: Database, key: [UInt8], body: [UInt8], reader: StoreReader, tail: UInt64) throws {
        let schema = store.schema
        if schema.holdsRecords(database) {
            try checkOperation(database, key: key, body: body, reader: reader, tail: tail)
        } else if database == schema.history {
            try checkHistoryEntry(key: key, reader: reader, tail: tail)
        } else {
            try checkIndexEntry(database, key: key, body: body, reader: reader)
        }
    }

    /// The operation a live record's key (its create sequence) says it is: the one the log created
    /// at that sequence, or, once the log is compacted past it, the one whose `names` entry gives
    /// it (a scan of `names`: only for a record that cannot say it itself). Nil for other
    /// databases' keys (the key names it, or nothing).
    private func creator(_ key: [UInt8], _ database: Database, _ reader: StoreReader) -> OperationName? {
        guard store.schema.liveRecords.contains(database), let sequence = key.withUnsafeBytes({ Keys.decodeSequence($0) }) else { return nil }
        if let event = try? reader.event(at: sequence) {
            if case .created = event.kind { return event.name }
            return nil
        }
        let names = store.schema.names
        return try? reader.txn.withCursor(names) { cursor in
            var entry = try cursor.first()
            while let (name, value) = entry {
                if let body = Checksum.body(key: name, value: value), Keys.decodeSequence(body) == sequence {
                    return try? OperationName(parsing: String(decoding: name, as: UTF8.self))
                }
                entry = try cursor.next()
            }
            return nil
        }
    }

    /// Checks the record of one operation found in `database`: `operations` or `done_by_creation`
    /// (keyed by its create sequence) or `tombstones` (by its name).
    func checkOperation(_ database: Database, key: [UInt8], body: [UInt8], reader: StoreReader, tail: UInt64) throws {
        let schema = store.schema
        let live = schema.liveRecords.contains(database)
        let state = try? body.withUnsafeBytes({ try RecordCodec.decodeState($0) })
        guard let state, key == Schema.recordKey(of: state, listed: live) else {
            // Which operation the key says, for the finding (a live record's: through the log).
            let keyed: OperationName? = live ? creator(key, database, reader) : try? OperationName(parsing: String(decoding: key, as: UTF8.self))
            let text = keyed?.description ?? DamagedRecord(database: database.name, key: key).printableKey
            record(IntegrityFinding(kind: .viewDiffers, database: database.name, key: key, operation: keyed ?? state?.name,
                                    message: "the record of \(text) cannot be decoded or names another operation"))
            return
        }
        let name = state.name
        let home = schema.recordDatabase(IndexFacts(state))
        if database != home {
            record(IntegrityFinding(kind: .viewDiffers, database: database.name, key: key, operation: name,
                                    message: "the record of \(name) is in \(database.name), but its state belongs in \(home.name)"))
        } else if live, try reader.txn.get(schema.tombstones, key: Keys.name(name)) != nil {
            // Reported once, against the tombstone: reads see the live record.
            record(IntegrityFinding(kind: .viewDiffers, database: schema.tombstones.name, key: Keys.name(name), operation: name,
                                    message: "\(name) is live and also has a tombstone"))
        }
        if state.createSequence >= tail {
            let folded: OperationState?
            do {
                folded = try reader.state(of: name, at: .max)
            } catch let error as StoreError {
                // A damaged event is reported by the log's check: the fold needs the log, not a repair.
                if error.damage?.database == "log" { return }
                if let damage = error.damage { record(IntegrityFinding(damaged: damage)) }
                record(IntegrityFinding(kind: .viewDiffers, database: database.name, key: key, operation: name,
                                        message: "the events of \(name) cannot be folded to check its state: \(error)"))
                return
            }
            if folded != state {
                record(IntegrityFinding(kind: .viewDiffers, database: database.name, key: key, operation: name,
                                        message: "the stored state of \(name) differs from the fold of its events"))
            }
        }
        let entries = IndexEntries(state)
        for (index, indexKey) in entries.entries(schema) {
            let expected = entries.body(of: index, schema)
            let found: [UInt8]? = try reader.txn.get(index, key: indexKey).flatMap { value in
                indexKey.withUnsafeBytes { Checksum.body(key: $0, value: value).map(Array.init) }
            }
            if found != expected {
                record(IntegrityFinding(kind: .indexMissing, database: index.name, key: indexKey, operation: name,
                                        message: "\(index.name) lacks the entry of \(name) (or it is damaged or holds another name)"))
            }
        }
    }

    private func checkIndexEntry(_ database: Database, key: [UInt8], body: [UInt8], reader: StoreReader) throws {
        let schema = store.schema
        if database == schema.names {
            try checkNamesEntry(key: key, body: body, reader: reader)
            return
        }
        let text: String
        if database == schema.byCreation || database == schema.running || database == schema.requestIDs {
            text = String(decoding: body, as: UTF8.self)
        } else if let name = DamagedRecord(database: database.name, key: key).operation {
            text = name.description
        } else {
            text = ""
        }
        let state: OperationState?
        do {
            state = try (try? OperationName(parsing: text)).flatMap { try reader.operation($0) }
        } catch let error as StoreError where error.damage != nil {
            // The operation's own record is damaged: reported when its database is checked.
            return
        }
        guard let state, IndexEntries(state).contains(database, key, schema) else {
            record(IntegrityFinding(kind: .indexStale, database: database.name, key: key, operation: try? OperationName(parsing: text),
                                    message: "\(database.name) holds an entry for \(text.isEmpty ? "an unknown operation" : text) that its state does not imply"))
            return
        }
    }

    /// A `names` entry must give the create sequence of a live record of the operation it names.
    /// (A live record whose entry is missing is its record's check.)
    private func checkNamesEntry(key: [UInt8], body: [UInt8], reader: StoreReader) throws {
        let schema = store.schema
        let text = String(decoding: key, as: UTF8.self)
        let sequence = body.withUnsafeBytes { Keys.decodeSequence($0) }
        for database in schema.liveRecords {
            guard let sequence, let value = try reader.txn.get(database, key: Keys.sequence(sequence)) else { continue }
            // A damaged record is reported where the pass reads its database.
            guard let stored = Keys.sequence(sequence).withUnsafeBytes({ Checksum.body(key: $0, value: value) }) else { return }
            if let state = try? RecordCodec.decodeState(stored), state.name.description == text { return }
        }
        let points = sequence.map { "create sequence \($0), where no record of it is" } ?? "no create sequence"
        record(IntegrityFinding(kind: .indexStale, database: schema.names.name, key: key, operation: try? OperationName(parsing: text),
                                message: "\(schema.names.name) holds an entry for \(text) that gives \(points)"))
    }

    private func checkHistoryEntry(key: [UInt8], reader: StoreReader, tail: UInt64) throws {
        guard let (createSequence, sequence) = key.withUnsafeBytes({ Keys.decodeHistory($0) }) else {
            record(IntegrityFinding(kind: .historyStale, database: store.schema.history.name, key: key, message: "a history entry has a malformed key"))
            return
        }
        guard sequence >= tail else { return }
        let event: Event?
        do { event = try reader.event(at: sequence) } catch let error as StoreError where error.damage != nil {
            return  // the damaged event is reported by the log's check
        }
        guard let event else {
            record(IntegrityFinding(kind: .historyStale, database: store.schema.history.name, key: key, sequence: sequence,
                                    message: "a history entry under create sequence \(createSequence) names event \(sequence), which is not in the log"))
            return
        }
        // The entry belongs to the operation the event is of, created at `createSequence`. An
        // operation's entries are adjacent: its record is read once for all of them.
        if let owner = historyOwner, owner.createSequence == createSequence, owner.name == event.name { return }
        let created: UInt64?
        do { created = try reader.operation(event.name)?.createSequence } catch {
            return  // a record that cannot be read is reported where the pass reads it
        }
        if created == createSequence {
            historyOwner = (createSequence, event.name)
        } else {
            let was = created.map { "was created at \($0)" } ?? "has no record"
            record(IntegrityFinding(kind: .historyStale, database: store.schema.history.name, key: key, operation: event.name, sequence: sequence,
                                    message: "the history entry of event \(sequence) of \(event.name) is under create sequence \(createSequence), but \(event.name) \(was)"))
        }
    }
}
