public import LongrunDomain

/// One problem an integrity check found: a record, an event, an index entry or a snapshot.
public struct IntegrityFinding: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// A record of the log or of a view fails its checksum.
        case damagedRecord = "damaged_record"
        /// An event does not match its chain hash.
        case brokenChain = "broken_chain"
        /// The log skips a sequence.
        case logGap = "log_gap"
        /// An operation's stored state differs from the fold of its events.
        case viewDiffers = "view_differs"
        /// An index entry that an operation's state implies is missing or holds something else.
        case indexMissing = "index_missing"
        /// An index entry that no operation's state implies.
        case indexStale = "index_stale"
        /// A history entry that names no event of its operation.
        case historyStale = "history_stale"
        /// A snapshot file fails its digest or cannot be read.
        case snapshotDamaged = "snapshot_damaged"
    }

    public var kind: Kind
    /// The database (`log`, `operations_by_creation`, ...), or the snapshot's path.
    public var database: String
    /// The record's key as stored, when the finding is about one record.
    public var key: [UInt8]?
    public var operation: OperationName?
    public var sequence: UInt64?
    public var message: String

    public init(kind: Kind, database: String, key: [UInt8]? = nil, operation: OperationName? = nil, sequence: UInt64? = nil, message: String) {
        self.kind = kind
        self.database = database
        self.key = key
        self.operation = operation
        self.sequence = sequence
        self.message = message
    }

    /// A finding about a record whose checksum failed.
    public init(damaged record: DamagedRecord) {
        self.init(kind: .damagedRecord, database: record.database, key: record.key, operation: record.operation, sequence: record.sequence,
                  message: "the stored \(record) fails its checksum")
    }

    /// Whether the log can rebuild what is wrong (``Store/repair(_:actor:now:progress:)``): any view
    /// record or entry can; a damaged event or snapshot cannot.
    public var repairable: Bool {
        switch kind {
        case .damagedRecord: database != "log"
        case .viewDiffers, .indexMissing, .indexStale, .historyStale: true
        case .brokenChain, .logGap, .snapshotDamaged: false
        }
    }

    /// The key for people (``DamagedRecord/printableKey``).
    public var printableKey: String? { key.map { DamagedRecord(database: database, key: $0).printableKey } }

    public var description: String { message }
}
