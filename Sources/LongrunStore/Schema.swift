public import LMDB
import LongrunDomain

/// Every named database and meta key of a data directory, declared in one place.
/// docs/FORMAT.md specifies each key and value byte for byte; change both together.
public struct Schema: Sendable {
    /// Bumped when the layout changes incompatibly. A store of format 1 (before checksums) is
    /// converted in place when opened for writing (``Store/upgradeFromFormat1()``); any other
    /// number is refused.
    public static let formatVersion: UInt32 = 2
    /// The oldest format this build converts.
    public static let oldestConvertibleFormat: UInt32 = 1

    /// The store's format version (``MetaKey/formatVersion``), nil when it has none: the one place
    /// it is decoded, whether the schema's databases are open yet or not (`meta` is enough).
    static func formatVersion(in txn: ReadTransaction, meta: Database) throws -> UInt32? {
        guard let value = try txn.get(meta, key: MetaKey.formatVersion) else { return nil }
        guard value.count == 4 else { throw StoreError(.dataLoss, "meta format_version has \(value.count) bytes, expected 4") }
        return UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
    }

    /// ``formatVersion`` as stored under ``MetaKey/formatVersion``.
    static var formatVersionValue: [UInt8] { withUnsafeBytes(of: formatVersion.bigEndian) { Array($0) } }

    /// sequence (8 bytes, big-endian) → `LogRecord`. Append-only: the source of truth.
    public let log: Database
    /// create sequence (8 bytes BE) → `OperationRecord`: the current state of every listed
    /// operation (not deleted or expired) that is not done, named `operations_by_creation`. Keyed
    /// by creation rather than by name, so that the operations running now, all created lately,
    /// share the tree's last pages, and a List page's records follow each other: keyed by name,
    /// each transition rewrote a leaf page of its own and each record of a page was a descent of
    /// its own (docs/FORMAT.md; BENCHMARKS.md, W3 and W6). ``names`` finds a record by name.
    public let operations: Database
    /// create sequence (8 bytes BE) → `OperationRecord`: the listed operations that are done,
    /// named `done_by_creation`; a record moves here from ``operations`` when its operation ends.
    /// Apart so that the records of running operations are not interleaved with done ones: a
    /// `done = false` page reads about half the leaf pages it read when they were (W3), and a done
    /// one is never rewritten, so its pages stay packed.
    public let doneOperations: Database
    /// name (UTF-8) → create sequence (8 bytes BE): where each listed operation's record is in
    /// ``operations`` or ``doneOperations``. Written when the operation is created and removed
    /// when it dies; an index (``IndexEntries``) like the others.
    public let names: Database
    /// name (UTF-8) → `OperationRecord`: the state of every deleted or expired operation (its
    /// tombstone, without payloads), kept so that its name is not reused while its history is
    /// (until log compaction drops its last event: ``Lifecycle/isForgotten(_:compactedThrough:)``).
    /// Apart from ``operations`` because an operation's record shrinks to a fifth when it dies:
    /// left in place, dead records keep the pages of live ones a quarter full (LMDB merges a page
    /// only when a delete leaves it below that), and the data file grows by those pages for as
    /// long as retention runs. Here they are packed, and what leaves ``operations`` frees its pages.
    public let tombstones: Database
    /// parent (UTF-8) · 0x00 · create sequence (8 bytes BE) → name: live operations in creation order, for List.
    public let byCreation: Database
    /// Same keys as ``byCreation`` for operations that are not done, so `done = false` scans no done ones.
    public let running: Database
    /// create sequence (8 bytes BE) · sequence (8 bytes BE) → empty: every event of an
    /// operation, for history (named `history_by_creation`). Keyed by the operation's create
    /// sequence rather than its name, so that the entries of the operations running now, all
    /// created lately, share the tree's last pages: keyed by name, every transition wrote a leaf
    /// page of its own, the most pages of any view (docs/FORMAT.md; BENCHMARKS.md, W6).
    public let history: Database
    /// parent · 0x00 · request id → name: idempotent creates.
    public let requestIDs: Database
    /// deadline (8 bytes, big-endian, sign bit flipped) · name → empty: cancel grace deadlines pending.
    public let engineDeadlines: Database
    /// outcome class (1 byte: 0 succeeded, 1 failed, 2 cancelled) · end time (8 bytes BE, sign bit
    /// flipped) · name → empty: done operations retention may expire (not held, not deleted).
    public let expiryCandidates: Database
    /// Meta keys below → values.
    public let meta: Database

    /// The databases the fold writes: dropped and rebuilt together by a rebuild. Their order is the
    /// view index in snapshot files: append new views at the end.
    public var views: [Database] {
        [operations, byCreation, running, history, requestIDs, engineDeadlines, expiryCandidates, tombstones, names, doneOperations]
    }

    /// The databases operations' records live in: ``operations`` for listed ones not done and
    /// ``doneOperations`` for listed done ones (under their create sequence), ``tombstones`` for
    /// the rest (under their name). An operation has a record in at most one of them.
    public var records: [Database] { [operations, doneOperations, tombstones] }

    /// The databases of listed operations' records, keyed by create sequence: running ones first.
    public var liveRecords: [Database] { [operations, doneOperations] }

    /// Where the record of an operation whose state has `facts` lives.
    public func recordDatabase(_ facts: IndexFacts) -> Database {
        facts.running ? operations : facts.listed ? doneOperations : tombstones
    }

    /// The database of live records that an operation's record leaves, under its create sequence,
    /// when its facts go from `before` to `after` (it ends, or it dies), if any.
    func liveRecordsLeft(from before: IndexFacts, to after: IndexFacts) -> Database? {
        let (was, home) = (recordDatabase(before), recordDatabase(after))
        return was != home && was != tombstones ? was : nil
    }

    /// The key of `state`'s record in ``recordDatabase(_:)``: its create sequence while listed,
    /// its name once dead.
    static func recordKey(of state: OperationState, listed: Bool) -> [UInt8] {
        listed ? Keys.sequence(state.createSequence) : Keys.name(state.name)
    }

    /// Whether `database` holds operations' records (``records``).
    public func holdsRecords(_ database: Database) -> Bool { records.contains(database) }

    public enum MetaKey {
        /// UInt32 BE: ``Schema/formatVersion`` of the store.
        public static let formatVersion = Array("format_version".utf8)
        /// UInt64 BE: sequence of the last event folded into the views. Written in the same
        /// transaction as the events, so views and log never disagree after a crash.
        public static let appliedSequence = Array("applied_sequence".utf8)
        /// 32 bytes: the chain hash of the last event compacted out of the log (absent: genesis).
        public static let logBaseHash = Array("log_base_hash".utf8)
        /// UTF-8, the view databases' names joined by commas: a build with other views rebuilds them.
        public static let viewSet = Array("view_set".utf8)
        /// UInt32 BE: the ``Lifecycle/foldRevision`` the views were folded by (absent: 1). A build
        /// with other rules folds them again.
        public static let foldRevision = Array("fold_revision".utf8)
        /// 8 bytes sequence (BE) · 32 bytes chain hash: the newest event a whole-log check (the
        /// scrub) found the chain intact through, so opening need check only the log after it.
        public static let verifiedLog = Array("verified_log".utf8)
        /// UInt64 BE: the log is compacted through this sequence and no tombstone it forgets
        /// (``Lifecycle/isForgotten(_:compactedThrough:)``) is left. Absent (or behind the log's
        /// tail) in a store compacted by a build that kept every tombstone: opening it for writing
        /// forgets them.
        public static let forgottenThrough = Array("forgotten_through".utf8)
        /// Present only while a format-1 store is being converted: the index (u8) of the database
        /// being converted in ``Schema/checksummed`` order, then the last key converted.
        public static let upgradeProgress = Array("upgrade_progress".utf8)
    }

    /// Every database whose values carry a checksum (docs/FORMAT.md, "Checksums"): all but `meta`.
    public var checksummed: [Database] { [log] + views }

    /// ``views`` by name, as stored under ``MetaKey/viewSet``.
    public var viewSetDescription: String { views.map(\.name).joined(separator: ",") }

    /// The name of every database ``init(environment:)`` opens: a read-only open checks that the
    /// store has them all before opening any (it cannot create one).
    package static let databaseNames = ["log", "operations_by_creation", "by_creation", "running", "history_by_creation", "request_ids", "engine_deadlines",
                                        "expiry_candidates", "tombstones", "names", "done_by_creation", "meta"]

    init(environment: Environment) throws(LMDBError) {
        func open(_ name: String) throws(LMDBError) -> Database {
            precondition(Self.databaseNames.contains(name), "\(name) is missing from Schema.databaseNames")
            return try environment.openDatabase(name)
        }
        log = try open("log")
        operations = try open("operations_by_creation")
        names = try open("names")
        byCreation = try open("by_creation")
        running = try open("running")
        history = try open("history_by_creation")
        requestIDs = try open("request_ids")
        engineDeadlines = try open("engine_deadlines")
        expiryCandidates = try open("expiry_candidates")
        tombstones = try open("tombstones")
        doneOperations = try open("done_by_creation")
        meta = try open("meta")
    }
}

/// Key encodings (docs/FORMAT.md, "Keys").
enum Keys {
    static func sequence(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func decodeSequence(_ buffer: UnsafeRawBufferPointer) -> UInt64? {
        guard buffer.count == 8 else { return nil }
        return UInt64(bigEndian: buffer.loadUnaligned(as: UInt64.self))
    }

    static func name(_ name: OperationName) -> [UInt8] { Array(name.description.utf8) }

    /// `parent · 0x00`: the prefix of a collection's entries in ``Schema/byCreation`` and ``Schema/running``.
    static func collectionPrefix(_ collection: CollectionName) -> [UInt8] { built { appendCollectionPrefix(collection, to: &$0) } }

    static func creation(_ collection: CollectionName, _ sequence: UInt64) -> [UInt8] { built { appendCreation(collection, sequence, to: &$0) } }

    /// Whether `key` is a ``creation(_:_:)`` key of `collection` (any create sequence), compared
    /// in place.
    static func isCreation(_ key: UnsafeRawBufferPointer, in collection: CollectionName) -> Bool {
        var parent = collection.parent
        return parent.withUTF8 { parent in
            key.count == parent.count + 9 && key[parent.count] == 0
                && (parent.isEmpty || memcmp(parent.baseAddress!, key.baseAddress!, parent.count) == 0)
        }
    }

    /// The operation's create sequence (8 bytes BE): the prefix of its entries in
    /// ``Schema/history``.
    static func historyPrefix(createSequence: UInt64) -> [UInt8] { sequence(createSequence) }

    /// `create sequence · sequence`, both 8 bytes BE: an event's entry in ``Schema/history``.
    static func history(createSequence: UInt64, _ sequence: UInt64) -> [UInt8] {
        var key = Keys.sequence(createSequence)
        withUnsafeBytes(of: sequence.bigEndian) { key += $0 }
        return key
    }

    /// The create sequence and the event's sequence of a ``Schema/history`` key; nil unless it
    /// has 16 bytes.
    static func decodeHistory(_ key: UnsafeRawBufferPointer) -> (createSequence: UInt64, sequence: UInt64)? {
        guard key.count == 16 else { return nil }
        return (UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    static func requestID(_ collection: CollectionName, _ requestID: String) -> [UInt8] { built { appendRequestID(collection, requestID, to: &$0) } }

    static func deadline(_ time: Timestamp, _ name: OperationName) -> [UInt8] { built { appendDeadline(time, name, to: &$0) } }

    static func decodeDeadline(_ buffer: UnsafeRawBufferPointer) -> (Timestamp, String)? {
        guard buffer.count > 8, let raw = decodeSequence(UnsafeRawBufferPointer(rebasing: buffer[0..<8])) else { return nil }
        let time = Timestamp(nanosecondsSinceEpoch: Int64(bitPattern: raw ^ (1 << 63)))
        return (time, String(decoding: UnsafeRawBufferPointer(rebasing: buffer[8...]), as: UTF8.self))
    }

    static func expiryCandidate(_ outcomeClass: RetentionPolicy.OutcomeClass, _ end: Timestamp, _ name: OperationName) -> [UInt8] {
        built { appendExpiryCandidate(outcomeClass, end, name, to: &$0) }
    }

    // The keys above appended to a buffer a caller reuses from key to key (replay writes many).

    private static func built(_ body: (inout [UInt8]) -> Void) -> [UInt8] {
        var key: [UInt8] = []
        body(&key)
        return key
    }

    static func appendSequence(_ value: UInt64, to key: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { key.append(contentsOf: $0) }
    }

    static func appendCollectionPrefix(_ collection: CollectionName, to key: inout [UInt8]) {
        key.append(contentsOf: collection.parent.utf8)
        key.append(0)
    }

    static func appendCreation(_ collection: CollectionName, _ sequence: UInt64, to key: inout [UInt8]) {
        appendCollectionPrefix(collection, to: &key)
        appendSequence(sequence, to: &key)
    }

    static func appendRequestID(_ collection: CollectionName, _ requestID: String, to key: inout [UInt8]) {
        appendCollectionPrefix(collection, to: &key)
        key.append(contentsOf: requestID.utf8)
    }

    static func appendDeadline(_ time: Timestamp, _ name: OperationName, to key: inout [UInt8]) {
        // Flip the sign bit so that negative times sort before positive ones as unsigned bytes.
        appendSequence(UInt64(bitPattern: time.nanosecondsSinceEpoch) ^ (1 << 63), to: &key)
        key.append(contentsOf: name.description.utf8)
    }

    static func appendExpiryCandidate(_ outcomeClass: RetentionPolicy.OutcomeClass, _ end: Timestamp, _ name: OperationName,
                                      to key: inout [UInt8]) {
        key.append(outcomeClass.rawValue)
        appendDeadline(end, name, to: &key)
    }

    /// Whether `a` sorts before `b` as LMDB orders keys: bytewise, a prefix first.
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in precedes(a, b) } }
    }

    static func precedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let common = min(a.count, b.count)
        let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
        return order != 0 ? order < 0 : a.count < b.count
    }

    static func hasPrefix(_ buffer: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        guard buffer.count >= prefix.count else { return false }
        return prefix.withUnsafeBytes { memcmp($0.baseAddress!, buffer.baseAddress!, prefix.count) == 0 }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
