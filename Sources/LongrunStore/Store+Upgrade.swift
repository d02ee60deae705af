import LMDB
import Logging
import LongrunDomain

extension Store {
    /// Converts a store of format 1 to format 2 in place: every value of the log and of the views
    /// gains its checksum (``Checksum``); keys, records and chain hashes stay as they were.
    ///
    /// Runs in chunks, each its own transaction that also records how far it got
    /// (``Schema/MetaKey/upgradeProgress``), so an interrupted conversion resumes where it stopped
    /// and never seals a value twice. The format number changes in the last transaction. Logs its
    /// progress as it goes.
    func upgradeFromFormat1(chunk: Int = 20_000) throws {
        // A store of format 1 keeps its live records by name (``nameKeyedRecords()``), which a
        // later conversion reads: sealed too, last, so that the indexes above stay as they were.
        let databases = schema.checksummed + (try nameKeyedRecords().map { [$0] } ?? [])
        let meta = schema.meta
        let (resume, total): ((index: Int, after: [UInt8])?, Int) = try storage {
            try environment.read { txn in
                let progress = try txn.get(meta, key: Schema.MetaKey.upgradeProgress).flatMap { value -> (Int, [UInt8])? in
                    guard let index = value.first else { return nil }
                    return (Int(index), Array(value.dropFirst()))
                }
                return (progress, try databases.reduce(0) { $0 + (try txn.count($1)) })
            }
        }
        logger.notice("converting the store from format 1 to format \(Schema.formatVersion): every record gains a checksum", metadata: [
            "directory": "\(directory)", "records": "\(total)", "resuming": "\(resume != nil)",
        ])
        var converted = 0
        for (index, database) in databases.enumerated() where index >= (resume?.index ?? 0) {
            var after: [UInt8]? = index == resume?.index ? resume?.after : nil
            while true {
                let last: [UInt8]? = try storage {
                    try environment.write { txn -> [UInt8]? in
                        var batch: [([UInt8], [UInt8])] = []
                        batch.reserveCapacity(chunk)
                        try txn.withCursor(database) { cursor in
                            var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
                            if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
                            while let (key, value) = entry, batch.count < chunk {
                                batch.append((Array(key), Array(value)))
                                entry = try cursor.next()
                            }
                        }
                        for (key, value) in batch {
                            try txn.put(database, key: key, value: Checksum.seal(key: key, body: value))
                        }
                        guard let last = batch.last?.0 else { return nil }
                        try txn.put(meta, key: Schema.MetaKey.upgradeProgress, value: [UInt8(index)] + last)
                        return last
                    }
                }
                guard let last else { break }
                after = last
                converted += chunk
                logger.notice("converting the store", metadata: [
                    "database": "\(database.name)", "progress": "\(min(100, converted * 100 / max(total, 1)))%",
                ])
            }
        }
        try storage {
            try environment.write { txn in
                try txn.put(meta, key: Schema.MetaKey.formatVersion, value: Schema.formatVersionValue)
                _ = try txn.delete(meta, key: Schema.MetaKey.upgradeProgress)
            }
        }
        logger.notice("the store is now format \(Schema.formatVersion)", metadata: ["directory": "\(directory)"])
    }
}

extension Store {
    /// The view set of builds before ``Schema/tombstones``: the same views, with deleted and expired
    /// operations' records in `operations` (keyed by name then).
    static let viewSetBeforeTombstones = "operations,by_creation,running,history,request_ids,engine_deadlines,expiry_candidates"

    /// Moves the records of deleted and expired operations from `operations` to `tombstones`, in
    /// place: what a store of the view set before ``Schema/tombstones`` needs, and all it needs
    /// (the records' bytes, checksums included, do not change; no other view does). Needs no log,
    /// so a compacted store converts as well as any.
    ///
    /// Runs in chunks of `chunk` records read, each its own transaction; a move is idempotent, so
    /// an interrupted conversion simply runs again (the view set is recorded only after the last
    /// chunk). Logs its progress.
    func moveTombstonesOutOfOperations(chunk: Int = 50_000) throws {
        guard let operations = try nameKeyedRecords() else { return }
        let total = try read { try $0.txn.count(operations) }
        logger.notice("moving deleted and expired operations' records to their own view (tombstones)", metadata: [
            "directory": "\(directory)", "records": "\(total)",
        ])
        let moved = try moveRecords(from: operations, to: schema.tombstones, total: total, chunk: chunk, progress: "moving tombstones")
        logger.notice("tombstones moved", metadata: ["moved": "\(moved)", "live": "\(total - moved)"])
    }

    /// Moves in place, byte for byte under the same key, each record of `source` whose state
    /// belongs in `destination` (``Schema/recordDatabase(_:)``): what a conversion that splits a
    /// database of records needs. `total`: the records of `source`, for the progress logged as
    /// `progress`. Returns how many it moved.
    ///
    /// Runs in chunks of `chunk` records read, each its own transaction; a move is idempotent, so
    /// an interrupted conversion simply runs again. A record that fails its checksum or cannot be
    /// decoded stays where it is, for the scrub to report and a repair to rebuild.
    private func moveRecords(from source: Database, to destination: Database, total: Int, chunk: Int, progress: String) throws -> Int {
        var after: [UInt8]?
        var (scanned, moved) = (0, 0)
        var logged = 0
        while true {
            let (last, count) = try write { writer -> ([UInt8]?, Int) in
                var leaving: [([UInt8], [UInt8])] = []
                var last: [UInt8]?
                try writer.txn.withCursor(source) { cursor in
                    var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
                    if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
                    var read = 0
                    while let (key, value) = entry, read < chunk {
                        if let body = Checksum.body(key: key, value: value), let state = try? RecordCodec.decodeState(body),
                           schema.recordDatabase(IndexFacts(state)) == destination {
                            leaving.append((Array(key), Array(value)))
                        }
                        last = Array(key)
                        read += 1
                        entry = try cursor.next()
                    }
                }
                for (key, value) in leaving {
                    _ = try writer.txn.delete(source, key: key)
                    try writer.txn.put(destination, key: key, value: value)
                }
                return (last, leaving.count)
            }
            guard let last else { return moved }
            after = last
            scanned += chunk
            moved += count
            let percent = min(100, scanned * 100 / max(total, 1))
            if percent >= logged + 5 {
                logger.notice("\(progress)", metadata: ["progress": "\(percent)%", "moved": "\(moved)"])
                logged = percent
            }
        }
    }
}

extension Store {
    /// The view set of builds before ``Schema/history`` was keyed by create sequence: the same
    /// views, with `history` keyed by name (name · 0x00 · sequence).
    static let viewSetBeforeHistoryByCreation = viewSetBeforeTombstones + ",tombstones"

    /// Keys history by create sequence, in place: what a store of the view set before
    /// `history_by_creation` needs, and all it needs. Its entries are written from the log, one for
    /// each event folded so far (``StoreWriter/putHistory(from:through:)``: what folding the events
    /// writes), so the name-keyed `history` is not read, only dropped at the end; a compacted store
    /// converts as well as any (history covers the retained log only).
    ///
    /// Runs in chunks of `chunk` events, each its own transaction. The view set is recorded only
    /// after the last chunk: an interrupted conversion starts again at the next open.
    func keyHistoryByCreation(chunk: UInt64 = 50_000) throws {
        let (tail, applied) = try read { reader in (try reader.logTail(), try reader.appliedSequence()) }
        try write { writer in try writer.txn.clear(schema.history) }  // what an interrupted conversion left
        if let tail, tail <= applied {
            logger.notice("keying history by creation: writing each event's entry from the log", metadata: [
                "directory": "\(directory)", "events": "\(applied - tail + 1)",
            ])
            var next = tail
            var logged: UInt64 = 0
            while next <= applied {
                let end = min(applied, next + chunk - 1)
                try write { writer in try writer.putHistory(from: next, through: end) }
                // Every 5%: a 10M-event store converts in about 10 s on 2 cores (BENCHMARKS.md).
                let percent = (end - tail + 1) * 100 / (applied - tail + 1)
                if percent >= logged + 5 || end == applied {
                    logger.notice("keying history by creation", metadata: ["progress": "\(percent)%", "events": "\(end - tail + 1)"])
                    logged = percent
                }
                next = end + 1
            }
        }
        try dropNameKeyedHistory()
        logger.notice("history is keyed by creation")
    }

    /// Deletes the name-keyed `history` database of builds before `history_by_creation`, if any.
    func dropNameKeyedHistory() throws {
        guard try storage({ try environment.databaseNames() }).contains("history") else { return }
        let history = try storage { try environment.openDatabase("history", create: false) }
        try write { writer in try writer.txn.drop(history) }
    }
}

extension Store {
    /// Whether an older build compacted history whose tombstones it did not forget.
    func tombstonesToForget() throws -> Bool {
        try read { reader in
            let tail = try reader.logTail() ?? reader.appliedSequence() + 1
            let forgotten = try reader.forgottenThrough() ?? 0
            return tail > 1 && forgotten < tail - 1
        }
    }

    /// A store whose log was compacted by a build that kept every tombstone still holds those the
    /// rule forgets (``Lifecycle/isForgotten(_:compactedThrough:)``): a rebuild from its snapshot
    /// would not, and their names would stay taken. Forgets them once, in chunks of `chunk`
    /// tombstones read (each its own transaction; an interrupted pass starts again at the next
    /// open), logging progress. Nothing to do for a store never compacted or compacted by this build.
    func forgetTombstonesCompactedByOlderBuilds(chunk: Int = 50_000) throws {
        let (tail, total) = try read { reader in (try reader.logTail() ?? reader.appliedSequence() + 1, try reader.txn.count(schema.tombstones)) }
        guard try tombstonesToForget() else { return }
        logger.notice("forgetting the deleted and expired operations whose history was compacted", metadata: [
            "directory": "\(directory)", "compacted_through": "\(tail - 1)", "tombstones": "\(total)",
        ])
        var after: [UInt8]?
        var (scanned, forgotten) = (0, 0)
        repeat {
            let (count, last) = try write { try $0.forgetTombstones(compactedThrough: tail - 1, after: after, limit: chunk) }
            after = last
            scanned += chunk
            forgotten += count
            if after != nil {
                logger.notice("forgetting tombstones", metadata: ["progress": "\(min(100, scanned * 100 / max(total, 1)))%", "forgotten": "\(forgotten)"])
            }
        } while after != nil
        logger.notice("tombstones of compacted history forgotten", metadata: ["forgotten": "\(forgotten)", "kept": "\(total - forgotten)"])
    }
}

extension Store {
    /// The view set of builds before records were keyed by creation (``Schema/operations``,
    /// ``Schema/names``): the same views, with live records in `operations`, keyed by name.
    static let viewSetBeforeRecordsByCreation = "operations,by_creation,running,history_by_creation,request_ids,engine_deadlines,expiry_candidates,tombstones"

    /// The name-keyed `operations` database of builds before `operations_by_creation`, if the
    /// store still has it.
    func nameKeyedRecords() throws -> Database? {
        guard try storage({ try environment.databaseNames() }).contains("operations") else { return nil }
        return try storage { try environment.openDatabase("operations", create: false) }
    }

    /// Keys live records by creation, in place: each record of the name-keyed `operations` is
    /// copied to ``Schema/operations`` under its create sequence (its checksum sealed again, over
    /// that key), with its ``Schema/names`` entry; then the name-keyed database is dropped. Nothing
    /// else changes (the list indexes' keys and values, history, tombstones), and no log is read,
    /// so a compacted store converts as well as any.
    ///
    /// Runs in chunks of `chunk` records, each its own transaction. The new views are cleared
    /// first and the old one is dropped only after the last chunk, so a conversion interrupted
    /// part way starts again at the next open, as it does after a build from before it wrote the
    /// store (and left what this build had written stale). A record that fails its checksum or
    /// cannot be decoded cannot say its create sequence: it is logged, by name, and left out;
    /// `longrun repair NAME` then rebuilds it from the log. Logs its progress.
    func keyRecordsByCreation(chunk: Int = 50_000) throws {
        guard let legacy = try nameKeyedRecords() else { return }
        let total = try read { try $0.txn.count(legacy) }
        logger.notice("keying the operations' records by creation", metadata: ["directory": "\(directory)", "records": "\(total)"])
        try write { writer in
            for database in schema.liveRecords { try writer.txn.clear(database) }
            try writer.txn.clear(schema.names)
        }
        var after: [UInt8]?
        var (moved, lost) = (0, 0)
        var logged = 0
        while true {
            let (last, count, damaged) = try write { writer -> ([UInt8]?, Int, [String]) in
                var batch: [([UInt8], [UInt8])] = []
                try writer.txn.withCursor(legacy) { cursor in
                    var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
                    if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
                    while let (key, value) = entry, batch.count < chunk {
                        batch.append((Array(key), Array(value)))
                        entry = try cursor.next()
                    }
                }
                var damaged: [String] = []
                for (key, value) in batch {
                    let body = key.withUnsafeBytes { key in value.withUnsafeBytes { Checksum.body(key: key, value: $0).map(Array.init) } }
                    guard let body, let state = try? body.withUnsafeBytes({ try RecordCodec.decodeState($0) }), Keys.name(state.name) == key else {
                        damaged.append(String(decoding: key, as: UTF8.self))
                        continue
                    }
                    let facts = IndexFacts(state)
                    if facts.listed {
                        try writer.putSealed(schema.names, key: key, body: IndexEntries(state).body(.names))
                        try writer.putSealed(schema.recordDatabase(facts), key: Schema.recordKey(of: state, listed: true), body: body)
                    } else {
                        try writer.txn.put(schema.tombstones, key: key, value: value)
                    }
                }
                return (batch.last?.0, batch.count - damaged.count, damaged)
            }
            for name in damaged {
                logger.warning("a record cannot be read, so its create sequence is unknown; left out. Rebuild it from the log after the conversion",
                               metadata: ["operation": "\(name)", "command": "longrun repair \(name)"])
            }
            guard let last else { break }
            after = last
            moved += count
            lost += damaged.count
            let percent = (moved + lost) * 100 / max(total, 1)
            if percent >= logged + 5 {
                logger.notice("keying records by creation", metadata: ["progress": "\(min(100, percent))%", "moved": "\(moved)"])
                logged = percent
            }
        }
        try write { writer in try writer.txn.drop(legacy) }
        logger.notice("the operations' records are keyed by creation", metadata: ["moved": "\(moved)", "left_out": "\(lost)"])
    }
}

extension Store {
    /// The view set of builds before done operations' records were kept apart
    /// (``Schema/doneOperations``): the same views, with every listed record in `operations`.
    static let viewSetBeforeDoneApart = "operations_by_creation,by_creation,running,history_by_creation,request_ids,engine_deadlines,expiry_candidates,tombstones,names"

    /// Moves the records of listed operations that are done from ``Schema/operations`` to
    /// ``Schema/doneOperations``, in place: what a store of ``viewSetBeforeDoneApart`` needs, and
    /// all it needs (a record keeps its key, so its bytes, checksum included, do not change; no
    /// other view does). Needs no log, so a compacted store converts as well as any. Chunked and
    /// idempotent as ``moveRecords(from:to:total:chunk:progress:)`` is; the view set is recorded
    /// only after the last chunk.
    func moveDoneRecordsApart(chunk: Int = 50_000) throws {
        let total = try read { try $0.txn.count(schema.operations) }
        logger.notice("keeping done operations' records apart from running ones' (done_by_creation)", metadata: [
            "directory": "\(directory)", "records": "\(total)",
        ])
        let moved = try moveRecords(from: schema.operations, to: schema.doneOperations, total: total, chunk: chunk, progress: "keeping done records apart")
        logger.notice("done operations' records are kept apart", metadata: ["moved": "\(moved)", "running": "\(total - moved)"])
    }
}
