import LMDB

/// Why the store cannot open, read or write. ``Kind`` decides the `google.rpc.Code` a client
/// receives (the server's `RPCErrorConvertible` conformance).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable, CaseIterable {
        /// The directory holds something that is not a Longrun store. Nothing was changed.
        case foreignDirectory
        /// The store was written by a format this build does not know.
        case unsupportedFormat
        /// A read-only open found the store without a database of this build's schema (written by
        /// an older build), which only a writer can add: ``database`` names it.
        case missingDatabase
        /// A record cannot be decoded, or the log and views contradict each other.
        case dataLoss
        /// The map reached its maximum or the disk is full: writes fail, reads keep working.
        case resourceExhausted
        /// Any other failure of the storage engine.
        case storage
        /// The store was closed.
        case closed
        /// A shared backend (PostgreSQL) cannot be reached now: retry; nothing of the failed call
        /// was acknowledged.
        case unavailable
    }

    public var kind: Kind
    public var message: String
    /// The backend's failure underneath (an `LMDBError`, a PostgreSQL error), if any.
    public var underlying: (any Error & Sendable)?
    /// The record whose checksum failed, for a ``Kind/dataLoss`` found by reading one.
    public var damage: DamagedRecord?
    /// The database concerned, for a ``Kind/missingDatabase``.
    public var database: String?

    public init(_ kind: Kind, _ message: String, underlying: (any Error & Sendable)? = nil, damage: DamagedRecord? = nil, database: String? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
        self.damage = damage
        self.database = database
    }

    /// What to run when a view record cannot be trusted: its operation's views are rebuilt from the
    /// log (named when it is known).
    static func repairAdvice(_ name: (some CustomStringConvertible)?) -> String {
        let command = name.map { "longrun repair \($0)" } ?? "longrun repair"
        return "Rebuild it from the log with `\(command)` (daemon running) or `longrun-replay repair --data-dir DIR` (daemon stopped)"
    }

    /// A read met a record whose checksum does not hold: it is not served.
    package static func damaged(_ record: DamagedRecord) -> StoreError {
        let repair = record.database == "log"
            ? "An event cannot be rebuilt from anything else: see the extent with `longrun-replay verify`, and restore the data directory from a backup if the event is before the newest snapshot"
            : repairAdvice(record.operation)
        return StoreError(.dataLoss, "the stored \(record) fails its checksum (damaged on disk or in memory), so it is not served. \(repair)", damage: record)
    }

    public var description: String { message }

    /// The one place LMDB failures become store errors.
    static func wrap(_ error: LMDBError) -> StoreError {
        switch error.kind {
        case .mapFull:
            StoreError(.resourceExhausted, """
                the store is full: \(error.detail ?? "the data file reached its maximum size"), so writes are refused; reads keep working \
                and nothing committed is affected. Raise the maximum store size (longrund --max-store-size) and restart; \
                to need less, expire done operations (--retain-succeeded/failed/cancelled) and compact the log (--compact-log-after)
                """, underlying: error)
        case .diskFull:
            StoreError(.resourceExhausted, """
                the disk holding the store is full (\(error)), so writes are refused; reads keep working and nothing committed \
                is affected. Free space on that file system: writes resume by themselves
                """, underlying: error)
        case .corrupted, .panic, .invalid, .versionMismatch, .incompatible:
            StoreError(.dataLoss, "the data file is damaged or not an LMDB store of this version (\(error)); run `longrun-replay verify`", underlying: error)
        default:
            StoreError(.storage, "storage failure: \(error)", underlying: error)
        }
    }
}

/// Runs `body`, turning any ``LMDBError`` into a ``StoreError``.
@inline(__always)
func storage<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as LMDBError {
        throw StoreError.wrap(error)
    }
}
