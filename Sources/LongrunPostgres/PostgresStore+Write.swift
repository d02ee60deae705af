import LongrunDomain
public import LongrunStore
import PostgresNIO

extension PostgresStore {
    /// A batch loads what it reads (its footprint) before it is decided.
    public var readsFootprint: Bool { true }

    /// One batch, one transaction on the writer's connection: lock the head row, load what the
    /// batch reads (its operations and those its request ids created, in one query), let the engine decide and fold
    /// in memory, then write the log rows, the changed operations and request ids, and the head in
    /// one statement that also announces the commit, and commit. A failure rolls everything back.
    public func write<R>(footprint: BatchFootprint, _ body: (any BatchWriting) throws -> R) throws -> R {
        let logger = self.logger, timeout = options.writeTimeout
        var phase = "connecting"
        do {
            let connection = try writerConnectionOrConnect()
            phase = "locking the head and loading"
            let loaded = try runBlocking(timeout: timeout) { try await Self.begin(connection, footprint: footprint, logger: logger) }
            let batch = PostgresBatch(loaded)
            let result: R
            do {
                result = try body(batch)
            } catch {
                phase = "rolling back"
                _ = try runBlocking(timeout: timeout) { try await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
            let changes = batch.changes
            // One notification per batch, a hint only; it names this store object so that its own
            // follower does not read back what it just wrote.
            let announce = options.notifyCommits ? "\(changes.head?.sequence ?? 0) \(commitToken)" : nil
            phase = "writing and committing"
            try runBlocking(timeout: timeout) { try await Self.commit(changes, announce: announce, on: connection, logger: logger) }
            return result
        } catch is BlockingTimeout {
            // The server did not answer: go on without it (the abandoned transaction ends when its
            // connection does, and holds the head row until then, so order is kept either way).
            dropWriterConnection()
            logger.error("a write batch got no answer within \(timeout) while \(phase); its connection is dropped", metadata: ["store": "\(location)"])
            throw StoreError(.unavailable, """
                PostgreSQL at \(location) did not answer within \(timeout) while \(phase): the batch may or may not have \
                committed (retries with request ids and expected versions are safe); check that the server is up and reachable
                """)
        } catch let error as DomainError {
            throw error
        } catch let error as StoreError where error.damage != nil {
            throw error
        } catch {
            // The connection's state is unknown (a failed COMMIT may or may not have landed): start
            // the next batch on a fresh one. Callers are told the batch failed; none was acknowledged.
            dropWriterConnection()
            throw mapped(error)
        }
    }

    /// Syncs are PostgreSQL's: every COMMIT is durable as its `synchronous_commit` says.
    public func sync() throws {}

    /// What a batch starts from: the head, and the state of everything its footprint names.
    struct Loaded: Sendable {
        var head: UInt64
        var headHash: ChainHash
        var states: [OperationName: OperationState?]
        var requestIDs: [BatchFootprint.RequestIDKey: OperationName]
    }

    /// BEGIN, lock the head, then load the footprint: the operations it names and those its request
    /// ids created, in one statement. The load must be a statement of its own after the lock: in
    /// READ COMMITTED each statement reads a snapshot taken when it starts, so only a statement
    /// that starts once the lock is held sees what the previous holder committed.
    static func begin(_ connection: PostgresConnection, footprint: BatchFootprint, logger: Logger) async throws -> Loaded {
        try await connection.query("BEGIN", logger: logger)
        do {
            // Every writer on every host takes this row first: one batch at a time, in sequence order.
            var head: (Int64, ByteBuffer)?
            for try await row in try await connection.query("SELECT sequence, hash FROM longrun_head WHERE id = 1 FOR UPDATE", logger: logger)
                .decode((Int64, ByteBuffer).self) { head = row }
            guard let (sequence, hashBytes) = head, hashBytes.readableBytes == ChainHash.byteCount else {
                throw StoreError(.dataLoss, "the longrun_head row is missing or malformed: the database was edited by hand; restore it from a backup")
            }
            var loaded = Loaded(head: UInt64(sequence), headHash: ChainHash(bytes: Array(buffer: hashBytes)), states: [:], requestIDs: [:])
            for name in footprint.operations { loaded.states[name] = .some(nil) }
            guard !footprint.operations.isEmpty || !footprint.requestIDs.isEmpty else { return loaded }
            let keys = Array(footprint.requestIDs)
            let rows = try await connection.query("""
                SELECT w.name, o.record, w.collection, w.request_id FROM (
                    SELECT n AS name, NULL::text AS collection, NULL::text AS request_id FROM unnest(\(footprint.operations.map(\.description))::text[]) AS n
                    UNION ALL
                    SELECT r.name, r.collection, r.request_id FROM longrun_request_ids r
                    JOIN unnest(\(keys.map(\.collection.description))::text[], \(keys.map(\.requestID))::text[]) AS k(collection, request_id)
                      ON r.collection = k.collection AND r.request_id = k.request_id
                ) w LEFT JOIN longrun_operations o ON o.name = w.name
                """, logger: logger)
            for try await (name, record, collection, requestID) in rows.decode((String, ByteBuffer?, String?, String?).self) {
                let operation = try OperationName(parsing: name)
                loaded.states[operation] = .some(try record.map { try PostgresRecords.openState($0, name: name) })
                if let collection, let requestID {
                    loaded.requestIDs[BatchFootprint.RequestIDKey(try CollectionName(listName: collection), requestID)] = operation
                }
            }
            return loaded
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Writes the batch in one statement (log rows, operations, request ids, head, and the commit's
    /// announcement), then commits: two round trips while the head row is held.
    static func commit(_ changes: PostgresBatch.Changes, announce: String?, on connection: PostgresConnection, logger: Logger) async throws {
        let announce = announce ?? ""
        do {
            if let head = changes.head {
                let log = changes.log, rows = changes.operations, keys = changes.requestIDs
                try await connection.query("""
                    WITH logged AS (
                        INSERT INTO longrun_log (sequence, operation, entry)
                        SELECT * FROM unnest(\(log.map(\.sequence))::bigint[], \(log.map(\.operation))::text[], \(log.map(\.entry))::bytea[])
                    ), folded AS (
                        INSERT INTO longrun_operations (name, collection, create_sequence, listed, running, engine_deadline, expiry_class, expiry_end, record)
                        SELECT name, collection, create_sequence, listed, running,
                               NULLIF(engine_deadline, -1), NULLIF(expiry_class, -1), NULLIF(expiry_end, -1), record
                        FROM unnest(\(rows.map(\.name))::text[], \(rows.map(\.collection))::text[], \(rows.map(\.createSequence))::bigint[],
                                    \(rows.map(\.listed))::boolean[], \(rows.map(\.running))::boolean[], \(rows.map(\.engineDeadline))::bigint[],
                                    \(rows.map(\.expiryClass))::smallint[], \(rows.map(\.expiryEnd))::bigint[], \(rows.map(\.record))::bytea[])
                          AS r(name, collection, create_sequence, listed, running, engine_deadline, expiry_class, expiry_end, record)
                        ON CONFLICT (name) DO UPDATE SET
                            listed = excluded.listed, running = excluded.running, engine_deadline = excluded.engine_deadline,
                            expiry_class = excluded.expiry_class, expiry_end = excluded.expiry_end, record = excluded.record
                    ), identified AS (
                        INSERT INTO longrun_request_ids (collection, request_id, name)
                        SELECT * FROM unnest(\(keys.map(\.collection))::text[], \(keys.map(\.requestID))::text[], \(keys.map(\.name))::text[])
                        ON CONFLICT DO NOTHING
                    ), advanced AS (
                        UPDATE longrun_head SET sequence = \(Int64(head.sequence)), hash = \(ByteBuffer(bytes: head.hash.bytes)) WHERE id = 1
                    )
                    SELECT pg_notify(\(PostgresSchema.channel), \(announce)) WHERE \(announce) <> ''
                    """, logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}

/// The write side of one PostgreSQL batch: reads come from what the batch loaded and what it
/// appended; appends fold in memory (`Lifecycle.apply`) and are written at commit.
final class PostgresBatch: BatchWriting {
    struct LogRow: Sendable {
        var sequence: Int64
        var operation: String
        var entry: ByteBuffer
    }

    struct OperationRow: Sendable {
        var name: String
        var collection: String
        var createSequence: Int64
        var listed: Bool
        var running: Bool
        /// -1 for none: unnest cannot carry optionals, NULLIF turns them back.
        var engineDeadline: Int64
        var expiryClass: Int16
        var expiryEnd: Int64
        var record: ByteBuffer
    }

    struct RequestIDRow: Sendable {
        var collection: String
        var requestID: String
        var name: String
    }

    struct Changes: Sendable {
        var log: [LogRow] = []
        var operations: [OperationRow] = []
        var requestIDs: [RequestIDRow] = []
        var head: (sequence: UInt64, hash: ChainHash)?
    }

    private(set) var head: UInt64
    private var headHash: ChainHash
    private var states: [OperationName: OperationState?]
    private var requestIDs: [BatchFootprint.RequestIDKey: OperationName]
    private var log: [LogRow] = []
    /// Operations changed, in first-change order (each written once, in its final state).
    private var changed: [OperationName] = []
    private var changedSet: Set<OperationName> = []
    private var newRequestIDs: [RequestIDRow] = []

    init(_ loaded: PostgresStore.Loaded) {
        head = loaded.head
        headHash = loaded.headHash
        states = loaded.states
        requestIDs = loaded.requestIDs
    }

    func operation(_ name: OperationName) throws -> OperationState? {
        guard let state = states[name] else {
            throw StoreError(.storage, "the write batch read \(name), which it did not load (a bug in the writer's footprint); the batch was rolled back")
        }
        return state
    }

    func operation(forRequestID requestID: String, in collection: CollectionName) throws -> OperationState? {
        guard let name = requestIDs[.init(collection, requestID)] else { return nil }
        return try operation(name)
    }

    func append(_ drafts: [Event.Draft], name: OperationName, time: Timestamp, current: OperationState?)
        throws -> (events: [Event], state: OperationState?)
    {
        var events: [Event] = []
        states[name] = .some(current)
        for draft in drafts {
            let event = Event(sequence: head + 1, time: time, name: name, actor: draft.actor, kind: draft.kind)
            let (entry, hash) = PostgresRecords.logEntry(event, previous: headHash)
            try record(event, entry: entry, hash: hash)
            events.append(event)
        }
        return (events, states[name] ?? nil)
    }

    /// Appends an entry copied from another store's log (a copy between backends), refusing it
    /// unless it continues the chain, and folds it. Its bytes are kept as they are.
    func appendLogged(sequence: UInt64, entry: [UInt8]) throws {
        guard sequence == head + 1 else {
            throw StoreError(.dataLoss, "the copied log has a gap: expected event \(head + 1), found \(sequence)")
        }
        let (stored, event): (ChainHash, Event) = try entry.withUnsafeBytes { value in
            let (stored, record) = try LogEntry.open(value, sequence: sequence)
            guard headHash.next(record: record) == stored else {
                throw StoreError(.dataLoss, "event \(sequence) breaks the hash chain: it was edited, removed or reordered. Run `longrun-replay verify` on the source")
            }
            return (stored, try PostgresRecords.decodeEvent(record, sequence: sequence))
        }
        try record(event, entry: ByteBuffer(bytes: entry), hash: stored)
    }

    /// The one place a batch takes an event: its log row, the new head, the fold.
    private func record(_ event: Event, entry: ByteBuffer, hash: ChainHash) throws {
        let name = event.name
        let previous = try operation(name)
        log.append(LogRow(sequence: Int64(event.sequence), operation: name.description, entry: entry))
        head = event.sequence
        headHash = hash
        let state = Lifecycle.apply(previous, event) ?? previous
        guard state != previous else { return }
        if changedSet.insert(name).inserted { changed.append(name) }
        states[name] = .some(state)
        if let state, let requestID = state.requestID {
            let key = BatchFootprint.RequestIDKey(name.collection, requestID)
            if requestIDs[key] == nil {
                requestIDs[key] = name
                newRequestIDs.append(RequestIDRow(collection: name.collection.description, requestID: requestID, name: name.description))
            }
        }
    }

    var changes: Changes {
        var changes = Changes(log: log, requestIDs: newRequestIDs)
        if !log.isEmpty { changes.head = (head, headHash) }
        for name in changed {
            guard let state = states[name] ?? nil else { continue }
            let facts = IndexFacts(state)
            changes.operations.append(OperationRow(
                name: name.description, collection: name.collection.description, createSequence: Int64(state.createSequence),
                listed: facts.listed, running: facts.running,
                engineDeadline: facts.engineDeadline?.nanosecondsSinceEpoch ?? -1,
                expiryClass: facts.expiry.map { Int16($0.outcomeClass.rawValue) } ?? -1,
                expiryEnd: facts.expiry?.end.nanosecondsSinceEpoch ?? -1,
                record: PostgresRecords.sealState(state)
            ))
        }
        return changes
    }
}
