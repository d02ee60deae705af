import CLMDB

/// A position in a database, valid inside ``ReadTransaction/withCursor(_:_:)``.
///
/// Every move returns the entry it lands on, or nil when there is none. Returned buffers point
/// into the map and are valid until the transaction ends.
public struct Cursor {
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let handle: OpaquePointer
    let database: Database

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
