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
    let database: Database
    /// The memory page of the value ``find(_:)`` last returned.
    var lastPage: UInt = 0
    private static let memoryPageSize = UInt(max(4096, sysconf(Int32(_SC_PAGESIZE))))

    public mutating func first() throws(LMDBError) -> Entry? { try move(MDB_FIRST) }
    public mutating func last() throws(LMDBError) -> Entry? { try move(MDB_LAST) }
    public mutating func next() throws(LMDBError) -> Entry? { try move(MDB_NEXT) }
    public mutating func previous() throws(LMDBError) -> Entry? { try move(MDB_PREV) }

    /// Moves to the first entry whose key is greater than or equal to `key`.
    public mutating func seek(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let rc = mdb_cursor_get(handle, &keyValue, &value, MDB_SET_RANGE)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_cursor_get(\(database.name), SET_RANGE)")
        return (UnsafeRawBufferPointer(start: keyValue.mv_data, count: keyValue.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
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
    /// When the value is on another memory page than the last one found, the whole page is asked
    /// into the processor's caches (a prefetch, which reads nothing itself): the value's bytes then
    /// arrive together rather than one cache line after another as they are read, and so do the
    /// other values on that page that the next lookups may find. W3 in BENCHMARKS.md measured it
    /// with names in creation order and in no order.
    public mutating func find(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let rc = mdb_cursor_get(handle, &keyValue, &value, MDB_SET)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_cursor_get(\(database.name), SET)")
        if let data = value.mv_data {
            let page = UInt(bitPattern: data) & ~(Self.memoryPageSize - 1)
            if page != lastPage {
                lastPage = page
                clmdb_prefetch(UnsafeRawPointer(bitPattern: page), Self.memoryPageSize)
            }
        }
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
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

    private mutating func move(_ op: MDB_cursor_op) throws(LMDBError) -> Entry? {
        var key = MDB_val()
        var value = MDB_val()
        let rc = mdb_cursor_get(handle, &key, &value, op)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_cursor_get(\(database.name))")
        return (UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }
}
