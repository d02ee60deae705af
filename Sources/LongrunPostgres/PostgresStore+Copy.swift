import Crypto
import LongrunDomain
public import LongrunStore
import PostgresNIO

/// Copying a log between backends and checking a PostgreSQL store (`longrun-replay copy`, `verify`).
extension PostgresStore {
    /// Up to `limit` raw log entries after `sequence`, in order: exactly the bytes LMDB keeps.
    public func logEntries(after sequence: UInt64, limit: Int) async throws -> [(sequence: UInt64, entry: [UInt8])] {
        try await reading { [logger] connection in
            var entries: [(sequence: UInt64, entry: [UInt8])] = []
            let rows = try await connection.query("""
                SELECT sequence, entry FROM longrun_log WHERE sequence > \(Int64(sequence)) ORDER BY sequence LIMIT \(Int64(limit))
                """, logger: logger)
            for try await (sequence, entry) in rows.decode((Int64, ByteBuffer).self) {
                entries.append((UInt64(sequence), Array(buffer: entry)))
            }
            return entries
        }
    }

    /// Appends entries copied from another store's log, in one transaction: each must continue the
    /// chain (the first continues this store's head), keeps its bytes, and is folded into the views.
    public func appendLogged(_ entries: [(sequence: UInt64, entry: [UInt8])]) async throws {
        guard !entries.isEmpty else { return }
        var footprint = BatchFootprint()
        for (sequence, entry) in entries {
            let event = try entry.withUnsafeBytes { try PostgresRecords.decodeEvent(LogEntry.open($0, sequence: sequence).record, sequence: sequence) }
            footprint.operations.insert(event.name)
        }
        do {
            let connection = try await connect()
            defer { Task { try? await connection.close() } }
            let loaded = try await Self.begin(connection, footprint: footprint, logger: logger)
            let batch = PostgresBatch(loaded)
            do {
                for (sequence, entry) in entries { try batch.appendLogged(sequence: sequence, entry: entry) }
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            let changes = batch.changes
            try await Self.commit(changes, announce: options.notifyCommits ? "\(changes.head?.sequence ?? 0) \(commitToken)" : nil, on: connection, logger: logger)
        } catch {
            throw mapped(error)
        }
    }

    /// Checks the whole store: every log entry's checksum, the sequences' continuity and the hash
    /// chain from the first event; the head row against the log; and every operation's record,
    /// index columns and request id against the fold of its events. Reports the first bad event of
    /// a damaged log (and then checks no views: they cannot be rebuilt past it).
    public func verify(progress: StoreProgressHandler? = nil) async throws -> VerifyReport {
        var report = VerifyReport()
        let head = try await appliedSequence()
        report.appliedSequence = head
        var hash = ChainHash.genesis
        var folded: [OperationName: OperationState] = [:]
        var position: UInt64 = 0
        walk: while true {
            let entries = try await logEntries(after: position, limit: 10_000)
            for (sequence, entry) in entries {
                if report.firstSequence == nil { report.firstSequence = sequence }
                guard sequence == position + 1 else {
                    report.problems.append(VerifyProblem(kind: .gap, sequence: position + 1, message: "event \(position + 1) is missing: the log jumps from \(position) to \(sequence)"))
                    break walk
                }
                do {
                    let event = try entry.withUnsafeBytes { value -> Event in
                        let (stored, record) = try LogEntry.open(value, sequence: sequence)
                        guard hash.next(record: record) == stored else {
                            throw VerifyProblem(kind: .brokenChain, sequence: sequence, message: "event \(sequence) breaks the hash chain: it was edited, removed or reordered")
                        }
                        hash = stored
                        return try PostgresRecords.decodeEvent(record, sequence: sequence)
                    }
                    var state = folded[event.name]
                    if Lifecycle.apply(&state, event) { folded[event.name] = state }
                } catch let problem as VerifyProblem {
                    report.problems.append(problem)
                    break walk
                } catch let error as StoreError {
                    let kind: VerifyProblem.Kind = error.damage != nil ? .checksumMismatch : .undecodable
                    report.problems.append(VerifyProblem(kind: kind, sequence: sequence, message: "event \(sequence): \(error.message)"))
                    break walk
                }
                position = sequence
                report.events += 1
            }
            progress?(StoreProgress(phase: "checking the log", done: position, total: max(head, position)))
            if entries.count < 10_000 { break }
        }
        report.headSequence = position
        report.headHash = hash
        guard report.problems.isEmpty else { return report }
        if head != position {
            report.problems.append(VerifyProblem(kind: .appliedMismatch, sequence: nil, message: "longrun_head says \(head), the log ends at \(position)"))
        }
        let (stored, damaged) = try await storedViews(progress: progress, total: UInt64(folded.count))
        report.problems += damaged
        var expected = SHA256(), actual = SHA256()
        for name in Set(folded.keys).union(stored.keys).sorted(by: { $0.description < $1.description }) {
            Self.digest(name, folded[name], into: &expected)
            Self.digest(name, stored[name]?.state, facts: stored[name]?.facts, into: &actual)
            if stored[name]?.state != folded[name] || stored[name].map({ $0.facts != IndexFacts(folded[name]) }) ?? false {
                if report.problems.count < 20 {
                    report.problems.append(VerifyProblem(kind: .viewsDiffer, sequence: nil, message: "the view of \(name) differs from the fold of its events"))
                }
            }
        }
        report.viewsDigest = actual.finalize().map { String(format2: $0) }.joined()
        report.rebuiltDigest = expected.finalize().map { String(format2: $0) }.joined()
        return report
    }

    /// Every operation row: its decoded record and the index facts its columns hold; damaged
    /// records are reported, not returned.
    private func storedViews(progress: StoreProgressHandler?, total: UInt64) async throws
        -> ([OperationName: (state: OperationState, facts: IndexFacts)], [VerifyProblem])
    {
        try await reading { [logger] connection in
            var views: [OperationName: (state: OperationState, facts: IndexFacts)] = [:]
            var problems: [VerifyProblem] = []
            let requestIDs = try await connection.query("SELECT collection, request_id, name FROM longrun_request_ids", logger: logger)
            var byRequestID: [String: String] = [:]
            for try await (collection, requestID, name) in requestIDs.decode((String, String, String).self) {
                byRequestID[collection + "\u{0}" + requestID] = name
            }
            let rows = try await connection.query("""
                SELECT name, listed, running, engine_deadline, expiry_class, expiry_end, record FROM longrun_operations
                """, logger: logger)
            for try await (name, listed, running, deadline, expiryClass, expiryEnd, record)
                in rows.decode((String, Bool, Bool, Int64?, Int16?, Int64?, ByteBuffer).self) {
                do {
                    let state = try PostgresRecords.openState(record, name: name)
                    var facts = IndexFacts(nil)
                    facts.listed = listed
                    facts.running = running
                    facts.requestID = state.requestID.flatMap { byRequestID[state.name.collection.description + "\u{0}" + $0] == name ? $0 : nil }
                    facts.engineDeadline = deadline.map(Timestamp.init(nanosecondsSinceEpoch:))
                    if let expiryClass, let expiryEnd, let outcomeClass = RetentionPolicy.OutcomeClass(rawValue: UInt8(clamping: expiryClass)) {
                        facts.expiry = .init(outcomeClass: outcomeClass, end: Timestamp(nanosecondsSinceEpoch: expiryEnd))
                    }
                    views[state.name] = (state, facts)
                } catch let error as StoreError {
                    problems.append(VerifyProblem(kind: .viewsDiffer, sequence: nil, message: "the view of \(name): \(error.message)"))
                }
                if views.count % 10_000 == 0 { progress?(StoreProgress(phase: "checking the views", done: UInt64(views.count), total: total)) }
            }
            return (views, problems)
        }
    }

    private static func digest(_ name: OperationName, _ state: OperationState?, facts: IndexFacts? = nil, into hasher: inout SHA256) {
        guard let state else { return }
        hasher.update(data: Array(name.description.utf8) + [0])
        hasher.update(data: RecordCodec.encode(state))
        hasher.update(data: Array("\(facts ?? IndexFacts(state))".utf8))
    }
}

extension VerifyProblem: Error {}

extension String {
    /// Two lowercase hex digits.
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self.init([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
