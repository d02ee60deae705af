import Logging
import LongrunDomain
import LongrunStore
import PostgresNIO

/// The tables of a PostgreSQL store, declared in one place (docs/FORMAT.md describes them).
///
/// - `longrun_head`: one row, the newest sequence and its chain hash. Every write transaction
///   locks it first, so writers on all hosts commit one at a time and sequences are commit order.
/// - `longrun_log`: the events, each stored exactly as in LMDB's log (`CRC-32C · chain hash ·
///   record`), so a copy between backends keeps the hashes and one verifier reads both.
/// - `longrun_operations`: the views: each operation's record (`CRC-32C · record`) and the index
///   columns its state implies (`IndexFacts`), with partial indexes for List (per collection, and
///   in global creation order for wildcards), running operations, cancel deadlines and retention.
/// - `longrun_request_ids`: the request id each operation was created with, per collection.
/// - `longrun_meta`: `schema_version`, and `fold_revision`: the ``Lifecycle/foldRevision`` the
///   views were folded by.
enum PostgresSchema {
    /// The version this build writes. A newer database is refused; an older one is migrated.
    static let version = 1

    /// Creates the tables if absent, under a transaction-scoped advisory lock so that hosts
    /// starting together do not race (and so that it works behind transaction-pooling poolers).
    /// Throws if the database holds a newer schema.
    static func prepare(_ connection: PostgresConnection, schema: String, create: Bool, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(7205759403792793)", logger: logger)
            if schema != "public" && create {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
            }
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema)"), logger: logger)
            var found: Int?
            let exists = try await connection.query("SELECT to_regclass('longrun_meta') IS NOT NULL", logger: logger)
            var hasMeta = false
            for try await value in exists.decode(Bool.self) { hasMeta = value }
            if hasMeta {
                let rows = try await connection.query("SELECT value FROM longrun_meta WHERE key = 'schema_version'", logger: logger)
                for try await value in rows.decode(String.self) { found = Int(value) }
            }
            if found == nil && !create {
                throw StorePrepareError("there is no Longrun store in schema \(schema) of this database (no longrun tables): check the URL's database and ?schema=", kind: .foreignDirectory)
            }
            if let found, found > version {
                throw StorePrepareError("the database holds a Longrun schema of version \(found), newer than this build's \(version): run a longrund at least as new as the one that wrote it", kind: .unsupportedFormat)
            }
            if found != nil && create {
                // A daemon serves the views; a tool that reads the log (copy, verify) may open any.
                let rows = try await connection.query("SELECT value FROM longrun_meta WHERE key = 'fold_revision'", logger: logger)
                var revision = 1
                for try await value in rows.decode(String.self) { revision = Int(value) ?? 0 }
                guard revision == Int(Lifecycle.foldRevision) else {
                    // Other hosts may still serve these views: they are never folded again in place.
                    throw StorePrepareError("""
                        the views in schema \(schema) were folded by the rules of revision \(revision), and this build folds by revision \(Lifecycle.foldRevision); \
                        nothing was changed. Copy the store into a new database with this build (`longrun-replay copy --from URL --to NEW_URL` \
                        folds the log again) and point every host at the copy
                        """, kind: .unsupportedFormat)
                }
            }
            if found == nil {
                try await connection.query("CREATE TABLE IF NOT EXISTS longrun_meta (key text PRIMARY KEY, value text NOT NULL)", logger: logger)
                for statement in tables {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO longrun_meta (key, value) VALUES ('schema_version', \(String(version))), ('fold_revision', \(String(Lifecycle.foldRevision)))", logger: logger)
                logger.notice("created the Longrun tables", metadata: ["schema": "\(schema)", "version": "\(version)"])
            }
            if create {
                // Indexes added after schema version 1 was written: they change no data and older
                // builds ignore them, so they are created where missing rather than by a version bump.
                for statement in addedIndexes {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    static let tables = [
        """
        CREATE TABLE longrun_head (
            id smallint PRIMARY KEY CHECK (id = 1),
            sequence bigint NOT NULL,
            hash bytea NOT NULL
        )
        """,
        "INSERT INTO longrun_head (id, sequence, hash) VALUES (1, 0, '\\x" + String(repeating: "00", count: 32) + "')",
        """
        CREATE TABLE longrun_log (
            sequence bigint PRIMARY KEY,
            operation text NOT NULL,
            entry bytea NOT NULL
        )
        """,
        "CREATE INDEX longrun_log_by_operation ON longrun_log (operation, sequence)",
        """
        CREATE TABLE longrun_operations (
            name text PRIMARY KEY,
            collection text NOT NULL,
            create_sequence bigint NOT NULL,
            listed boolean NOT NULL,
            running boolean NOT NULL,
            engine_deadline bigint,
            expiry_class smallint,
            expiry_end bigint,
            record bytea NOT NULL
        )
        """,
        "CREATE INDEX longrun_operations_listed ON longrun_operations (collection, create_sequence) WHERE listed",
        "CREATE INDEX longrun_operations_running ON longrun_operations (collection, create_sequence) WHERE running",
        "CREATE INDEX longrun_operations_engine_deadline ON longrun_operations (engine_deadline) WHERE engine_deadline IS NOT NULL",
        "CREATE INDEX longrun_operations_expiry ON longrun_operations (expiry_class, expiry_end) WHERE expiry_class IS NOT NULL",
        """
        CREATE TABLE longrun_request_ids (
            collection text NOT NULL,
            request_id text NOT NULL,
            name text NOT NULL,
            PRIMARY KEY (collection, request_id)
        )
        """,
    ]

    /// Lists across collections (a wildcard name) in global creation order. Created by every
    /// daemon at start where missing (a one-time build on an existing store, under the lock).
    static let addedIndexes = [
        "CREATE INDEX IF NOT EXISTS longrun_operations_listed_order ON longrun_operations (create_sequence) WHERE listed",
        "CREATE INDEX IF NOT EXISTS longrun_operations_running_order ON longrun_operations (create_sequence) WHERE running",
    ]

    /// The channel a commit is announced on (a hint only: followers also poll).
    static let channel = "longrun_commits"
}

struct StorePrepareError: Error, CustomStringConvertible {
    var description: String
    var kind: StoreError.Kind
    init(_ description: String, kind: StoreError.Kind) {
        self.description = description
        self.kind = kind
    }
}
