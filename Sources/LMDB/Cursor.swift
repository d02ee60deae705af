import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A position in a database, valid inside ``ReadTransaction/withCursor(_:_:)``.
///
/// Every move returns the entry it lands on, or nil when there is none. Returned buffers point
/// into the map and are valid until the transaction ends.
public struct Cursor {
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let handle: OpaquePointer
    public let database: Database
    /// The block (``prefetchBlock``) of the value ``find(_:)`` last returned.
    var lastBlock: UInt = 0
    /// What ``find(_:)`` prefetches: the memory page, LMDB's page, where pages are 4 KiB (x86-64),
    /// 4 KiB of it where they are larger. Read at run time on purpose: from a constant, the compiler
    /// unrolls ``clmdb_prefetch``'s loop into 64 prefetches issued at once, and W3 at 1M operations
    /// was 8% slower so (p50 51.5 against 47.3 µs, alternated; BENCHMARKS.md), presumably the
    /// prefetches holding up the record's own first reads.
    private static let prefetchBlock = UInt(min(4096, max(64, sysconf(Int32(_SC_PAGESIZE)))))

    /// Opens a cursor in `transaction`; its owner closes it (`mdb_cursor_close`).
    init(transaction: OpaquePointer, database: Database) throws(LMDBError) {
        var pointer: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(transaction, database.dbi, &pointer), "mdb_cursor_open(\(database.name))")
        self.handle = pointer!
        self.database = database
    }

    public mutating func first() throws(LMDBError) -> Entry? { try move(MDB_FIRST) }
    public mutating func last() throws(LMDBError) -> Entry? { try move(MDB_LAST) }
    public mutating func next() throws(LMDBError) -> Entry? { try move(MDB_NEXT) }
    public mutating func previous() throws(LMDBError) -> Entry? { try move(MDB_PREV) }

    /// ``next()`` for a scan that reads the values: when the value is in another block than the
    /// last one (``prefetchBlock``), the whole block is asked into the caches, as ``find(_:)``
    /// does, so that the values after it on that page arrive while this one is read.
    public mutating func nextPrefetching() throws(LMDBError) -> Entry? {
        guard let entry = try move(MDB_NEXT) else { return nil }
        prefetch(entry.value)
        return entry
    }

    /// Moves to the first entry whose key is greater than or equal to `key`.
    public mutating func seek(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        try move(MDB_SET_RANGE, key: key, "SET_RANGE")
    }

    /// Moves to the entry whose key is `key` and returns its value, or nil (the cursor's position is
    /// then undefined) when there is none.
    ///
    /// Why a cursor rather than ``ReadTransaction/get(_:key:)``: when `key` falls on the leaf page
    /// the cursor is already on, LMDB checks it against that page's first and last keys and
    /// searches only that page, without descending the tree from the root; `get` always descends.
    /// Lookups of keys near each other in key order (a List page's records, when names follow
    /// creation order) mostly land so; for others it costs two key comparisons more than `get`.
    ///
    /// When the value is in another block than the last one found (``prefetchBlock``: LMDB's page
    /// where pages are 4 KiB), the whole block is asked into the processor's caches (a prefetch, which reads nothing
    /// itself): the value's bytes then arrive together rather than one cache line after another as
    /// they are read, and so do the other values on that page that the next lookups may find. W3
    /// in BENCHMARKS.md measured it with names in creation order and in no order.
    public mutating func find(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        guard let value = try move(MDB_SET, key: key, "SET")?.value else { return nil }
        prefetch(value)
        return value
    }

    /// LMDB's default key order: bytes compared as unsigned, a prefix first.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int32 {
        let common = min(a.count, b.count)
        if common > 0, let left = a.baseAddress, let right = b.baseAddress {
            let order = memcmp(left, right, common)
            if order != 0 { return order }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// Asks `value`'s block into the caches when it is another than the last one found.
    mutating func prefetch(_ value: UnsafeRawBufferPointer) {
        guard let data = value.baseAddress else { return }
        let block = UInt(bitPattern: data) & ~(Self.prefetchBlock - 1)
        if block != lastBlock {
            lastBlock = block
            clmdb_prefetch(UnsafeRawPointer(bitPattern: block), Self.prefetchBlock)
        }
    }

    /// Moves to the first entry whose key is greater than or equal to `key`.
    public mutating func seek(atLeast key: [UInt8]) throws(LMDBError) -> Entry? {
        try withBuffer(key) { (buffer) throws(LMDBError) in try seek(atLeast: buffer) }
    }

    /// Stores `value` under `key` (insert or replace) through the cursor, which then sits on it.
    /// Only a cursor of a write transaction may put (LMDB refuses others with `EACCES`).
    ///
    /// Why a cursor: when `key` falls on the leaf page the cursor is already on, LMDB finds its
    /// place there without searching the tree from the root, as ``WriteTransaction/put(_:key:value:mode:)``
    /// does. Keys put in ascending order (a replay's sorted runs) mostly land so.
    public mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LMDBError) {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try LMDBError.check(mdb_cursor_put(handle, &keyValue, &dataValue, 0), "mdb_cursor_put(\(database.name))")
    }

    /// `mdb_cursor_get` with `op`, from `key` for the operations that take one (`label` names
    /// them in an error): the entry the cursor lands on, or nil when there is none.
    private mutating func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil, _ label: String? = nil) throws(LMDBError) -> Entry? {
        var keyValue = key.map { MDB_val(mv_size: $0.count, mv_data: UnsafeMutableRawPointer(mutating: $0.baseAddress)) } ?? MDB_val()
        var value = MDB_val()
        let rc = mdb_cursor_get(handle, &keyValue, &value, op)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, label.map { "mdb_cursor_get(\(database.name), \($0))" } ?? "mdb_cursor_get(\(database.name))")
        return (UnsafeRawBufferPointer(start: keyValue.mv_data, count: keyValue.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }
}
