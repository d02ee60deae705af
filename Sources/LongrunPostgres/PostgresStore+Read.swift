public import LongrunDomain
public import LongrunStore
import PostgresNIO

/// Reads: each one statement through the pool, seeing what is committed. Records are checked
/// against their checksums as on LMDB.
extension PostgresStore {
    public func appliedSequence() async throws -> UInt64 {
        try await reading { [logger] connection in
            for try await sequence in try await connection.query("SELECT sequence FROM longrun_head WHERE id = 1", logger: logger).decode(Int64.self) {
                return UInt64(sequence)
            }
            throw StoreError(.dataLoss, "the longrun_head row is missing: the database was edited by hand; restore it from a backup")
        }
    }

    public func operation(_ name: OperationName) async throws -> OperationState? {
        try await reading { [logger] connection in
            let key = name.description
            for try await record in try await connection.query("SELECT record FROM longrun_operations WHERE name = \(key)", logger: logger).decode(ByteBuffer.self) {
                return try PostgresRecords.openState(record, name: key)
            }
            return nil
        }
    }

    /// The same page as on LMDB: candidates from the partial index in creation order, checked by
    /// the shared ``ListPageBuilder`` (owner, filter, size, bytes, scan budget). They are fetched in
    /// chunks, the first just large enough for a page whose candidates all match, so a plain page of
    /// 100 reads 101 rows, and a rare filter reads more only as it needs them, up to the budget.
    ///
    /// Several collections (a wildcard) are read from the indexes in global creation order
    /// (`create_sequence` alone), each candidate outside the wildcard counted towards the scan
    /// budget without its record being sent, so a page reads at most the budget whatever the
    /// wildcard matches. The order, and so the pages when no budget runs out, are LMDB's.
    public func list(_ query: ListQuery) async throws -> ListPage {
        try await reading { [logger] connection in
            var page = ListPageBuilder(query)
            let single = query.collections.single?.description
            // A superset of the wildcard's collections, for PostgreSQL to leave out the records of
            // the others; ListPageBuilder checks the exact rule (CollectionSet.matches).
            let like = query.collections.likePattern
            var after = Int64(query.afterCreateSequence)
            var remaining = query.scanBudget + 1
            var chunk = max(query.pageSize, 1) + 1
            while remaining > 0 {
                let limit = Int64(min(chunk, remaining))
                let rows: PostgresRowSequence
                switch (single, query.usesRunningIndex) {
                case (let collection?, true):
                    rows = try await connection.query("""
                        SELECT name, create_sequence, record FROM longrun_operations
                        WHERE running AND collection = \(collection) AND create_sequence > \(after)
                        ORDER BY create_sequence LIMIT \(limit)
                        """, logger: logger)
                case (let collection?, false):
                    rows = try await connection.query("""
                        SELECT name, create_sequence, record FROM longrun_operations
                        WHERE listed AND collection = \(collection) AND create_sequence > \(after)
                        ORDER BY create_sequence LIMIT \(limit)
                        """, logger: logger)
                case (nil, true):
                    rows = try await connection.query("""
                        SELECT name, create_sequence, CASE WHEN collection LIKE \(like) THEN record END FROM longrun_operations
                        WHERE running AND create_sequence > \(after)
                        ORDER BY create_sequence LIMIT \(limit)
                        """, logger: logger)
                case (nil, false):
                    rows = try await connection.query("""
                        SELECT name, create_sequence, CASE WHEN collection LIKE \(like) THEN record END FROM longrun_operations
                        WHERE listed AND create_sequence > \(after)
                        ORDER BY create_sequence LIMIT \(limit)
                        """, logger: logger)
                }
                var fetched: Int64 = 0
                for try await (name, sequence, record) in rows.decode((String, Int64, ByteBuffer?).self) {
                    fetched += 1
                    if let short = page.budgetExhausted() { return short }
                    if let record {
                        let state = try PostgresRecords.openState(record, name: name)
                        if let full = page.add(state, sequence: UInt64(sequence), size: record.readableBytes) { return full }
                    } else {
                        page.skip(sequence: UInt64(sequence))
                    }
                    after = sequence
                }
                if fetched < limit { return page.end() }
                remaining -= Int(fetched)
                chunk = min(chunk * 4, 10_000)
            }
            return page.budgetExhausted() ?? page.end()
        }
    }

    /// The collections with live operations, by a walk over the List index that jumps from each
    /// collection to the next (one index probe per collection; PostgreSQL has no skip scan of its
    /// own). Every page walks them all: the index orders the collections' names
    /// (`tenants/a/operations`) in the database's collation, not their parents by their bytes as
    /// pages do (`tenants/a-b/operations` comes first even in the `C` collation, and `en_US`
    /// ignores `-` and `/` at first), so the walk cannot start at `after`.
    public func collections(matching set: CollectionSet, after: String?, limit: Int) async throws -> [CollectionName] {
        try await reading { [logger] connection in
            let rows = try await connection.query("""
                WITH RECURSIVE walk(collection) AS (
                    (SELECT collection FROM longrun_operations WHERE listed ORDER BY collection LIMIT 1)
                    UNION ALL
                    SELECT (SELECT o.collection FROM longrun_operations o
                            WHERE o.listed AND o.collection > walk.collection ORDER BY o.collection LIMIT 1)
                    FROM walk WHERE walk.collection IS NOT NULL
                )
                SELECT collection FROM walk WHERE collection IS NOT NULL
                """, logger: logger)
            var names: [CollectionName] = []
            for try await text in rows.decode(String.self) {
                let collection = try CollectionName(listName: text)
                if set.matches(collection), after.map({ collection.parent > $0 }) ?? true { names.append(collection) }
            }
            return Array(names.sorted().prefix(limit))
        }
    }

    /// The PostgreSQL log keeps every event (PostgreSQL's own backups bound its size).
    public func logTail() async throws -> UInt64? { nil }

    public func events(after sequence: UInt64, limit: Int) async throws -> [Event] {
        guard limit > 0 else { return [] }
        return try await reading { [logger] connection in
            var events: [Event] = []
            let rows = try await connection.query("""
                SELECT sequence, entry FROM longrun_log WHERE sequence > \(Int64(sequence)) ORDER BY sequence LIMIT \(Int64(limit))
                """, logger: logger)
            for try await (sequence, entry) in rows.decode((Int64, ByteBuffer).self) {
                events.append(try PostgresRecords.openEvent(entry, sequence: sequence))
            }
            return events
        }
    }

    public func events(of name: OperationName, after sequence: UInt64, limit: Int) async throws -> [Event] {
        guard limit > 0 else { return [] }
        return try await reading { [logger] connection in
            var events: [Event] = []
            let rows = try await connection.query("""
                SELECT sequence, entry FROM longrun_log WHERE operation = \(name.description) AND sequence > \(Int64(sequence))
                ORDER BY sequence LIMIT \(Int64(limit))
                """, logger: logger)
            for try await (sequence, entry) in rows.decode((Int64, ByteBuffer).self) {
                events.append(try PostgresRecords.openEvent(entry, sequence: sequence))
            }
            return events
        }
    }

    public func engineDeadlines(dueBy now: Timestamp, after: EngineDeadline?, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> (due: [EngineDeadline], next: Timestamp?)
    {
        try await reading { [logger] connection in
            var due: [EngineDeadline] = []
            // Names sort by their bytes (COLLATE "C"), as LMDB's keys do.
            let rows = if let after {
                try await connection.query("""
                    SELECT name, engine_deadline FROM longrun_operations
                    WHERE engine_deadline IS NOT NULL
                      AND (engine_deadline, name COLLATE "C") > (\(after.deadline.nanosecondsSinceEpoch), \(after.name.description) COLLATE "C")
                    ORDER BY engine_deadline, name COLLATE "C" LIMIT \(Int64(limit) + 1)
                    """, logger: logger)
            } else {
                try await connection.query("""
                    SELECT name, engine_deadline FROM longrun_operations WHERE engine_deadline IS NOT NULL
                    ORDER BY engine_deadline, name COLLATE "C" LIMIT \(Int64(limit) + 1)
                    """, logger: logger)
            }
            for try await (name, deadline) in rows.decode((String, Int64).self) {
                let deadline = Timestamp(nanosecondsSinceEpoch: deadline)
                if deadline > now || due.count >= limit { return (due, deadline) }
                due.append(EngineDeadline(deadline: deadline, name: try OperationName(parsing: name)))
            }
            return (due, nil)
        }
    }

    public func expiredByRetention(_ policy: RetentionPolicy, now: Timestamp, limit: Int, damaged: @Sendable (DamagedRecord) -> Void) async throws
        -> [OperationName]
    {
        try await reading { [logger] connection in
            var due: [OperationName] = []
            for outcomeClass in RetentionPolicy.OutcomeClass.allCases {
                guard let ttl = policy.timeToLive(outcomeClass), due.count < limit else { continue }
                let cutoff = (now - ttl).nanosecondsSinceEpoch
                let rows = try await connection.query("""
                    SELECT name FROM longrun_operations WHERE expiry_class = \(Int16(outcomeClass.rawValue)) AND expiry_end <= \(cutoff)
                    ORDER BY expiry_end, name LIMIT \(Int64(limit - due.count))
                    """, logger: logger)
                for try await name in rows.decode(String.self) { due.append(try OperationName(parsing: name)) }
            }
            return due
        }
    }
}
