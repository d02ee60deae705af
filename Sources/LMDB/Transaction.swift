import CLMDB

/// A read-only view of the environment as of the transaction's start.
///
/// Created by ``Environment/read(_:)``; a ``WriteTransaction`` is also a `ReadTransaction`, so
/// reading code takes either. Buffers it returns point into the memory map and are valid only until
/// the transaction ends.
public class ReadTransaction {
    let handle: OpaquePointer
    private(set) var isOpen = true

    init(environment: Environment, flags: UInt32) throws(LMDBError) {
        var txn: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(environment.handle, nil, flags, &txn), "mdb_txn_begin")
        self.handle = txn!
    }

    final func abort() {
        guard isOpen else { return }
        isOpen = false
        mdb_txn_abort(handle)
    }

    final func markCommitted() {
        isOpen = false
    }

    /// The value stored under `key`, or nil if there is none.
    public final func get(_ database: Database, key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        precondition(isOpen, "transaction used after it ended")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let rc = mdb_get(handle, database.dbi, &keyValue, &value)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get(\(database.name))")
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }

    /// The value stored under `key`, or nil if there is none.
    public final func get(_ database: Database, key: [UInt8]) throws(LMDBError) -> UnsafeRawBufferPointer? {
        try withBuffer(key) { (buffer) throws(LMDBError) in try get(database, key: buffer) }
    }

    /// The number of entries in `database`.
    public final func count(_ database: Database) throws(LMDBError) -> Int {
        precondition(isOpen, "transaction used after it ended")
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(handle, database.dbi, &stat), "mdb_stat(\(database.name))")
        return stat.ms_entries
    }

    /// The entries of `database` and the bytes of the pages holding them (branch, leaf and overflow).
    public final func statistics(_ database: Database) throws(LMDBError) -> (entries: Int, bytes: Int) {
        precondition(isOpen, "transaction used after it ended")
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(handle, database.dbi, &stat), "mdb_stat(\(database.name))")
        return (stat.ms_entries, (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * Int(stat.ms_psize))
    }

    /// Runs `body` with a cursor over `database`, closed when `body` returns.
    public final func withCursor<R, E: Error>(_ database: Database, _ body: (inout Cursor) throws(E) -> R) throws -> R {
        precondition(isOpen, "transaction used after it ended")
        var cursor = try Cursor(transaction: handle, database: database)
        defer { mdb_cursor_close(cursor.handle) }
        return try body(&cursor)
    }

    /// Runs `body` with a set of cursors over `database` that it opens as it needs them (each
    /// stays where its moves leave it), all closed when `body` returns.
    public final func withCursors<R, E: Error>(_ database: Database, _ body: (inout Cursors) throws(E) -> R) throws -> R {
        precondition(isOpen, "transaction used after it ended")
        var cursors = Cursors(transaction: handle, database: database)
        defer { cursors.closeAll() }
        return try body(&cursors)
    }
}

/// Cursors over one database, opened one by one inside ``ReadTransaction/withCursors(_:_:)``.
public struct Cursors {
    private let transaction: OpaquePointer
    private let database: Database
    private var cursors: [Cursor] = []

    init(transaction: OpaquePointer, database: Database) {
        self.transaction = transaction
        self.database = database
    }

    public var count: Int { cursors.count }

    /// Opens one more cursor, unpositioned; its index.
    public mutating func open() throws(LMDBError) -> Int {
        cursors.append(try Cursor(transaction: transaction, database: database))
        return cursors.count - 1
    }

    public subscript(index: Int) -> Cursor {
        get { cursors[index] }
        _modify { yield &cursors[index] }
    }

    fileprivate func closeAll() {
        for cursor in cursors { mdb_cursor_close(cursor.handle) }
    }
}

/// The one write transaction of the environment. Created by ``Environment/write(_:)``.
public final class WriteTransaction: ReadTransaction {
    init(environment: Environment) throws(LMDBError) {
        try super.init(environment: environment, flags: 0)
    }

    func commit() throws(LMDBError) {
        precondition(isOpen, "transaction committed twice")
        markCommitted()
        try LMDBError.check(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    public enum PutMode: Sendable {
        /// Insert or replace.
        case upsert
        /// Fail with ``LMDBError/Kind/keyExists`` if the key exists.
        case insertOnly
        /// The key sorts after every existing key (fast path for the log); fails with
        /// ``LMDBError/Kind/keyExists`` otherwise.
        case append
    }

    public func put(_ database: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, mode: PutMode = .upsert) throws(LMDBError) {
        precondition(isOpen, "transaction used after it ended")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let flags: UInt32 = switch mode {
        case .upsert: 0
        case .insertOnly: UInt32(MDB_NOOVERWRITE)
        case .append: UInt32(MDB_APPEND)
        }
        try LMDBError.check(mdb_put(handle, database.dbi, &keyValue, &dataValue, flags), "mdb_put(\(database.name))")
    }

    public func put(_ database: Database, key: [UInt8], value: [UInt8], mode: PutMode = .upsert) throws(LMDBError) {
        try withBuffer(key) { (keyBuffer) throws(LMDBError) in
            try withBuffer(value) { (valueBuffer) throws(LMDBError) in
                try put(database, key: keyBuffer, value: valueBuffer, mode: mode)
            }
        }
    }

    /// Deletes `key`; returns false if it was not there.
    @discardableResult
    public func delete(_ database: Database, key: [UInt8]) throws(LMDBError) -> Bool {
        precondition(isOpen, "transaction used after it ended")
        return try withBuffer(key) { (buffer) throws(LMDBError) in
            var keyValue = MDB_val(mv_size: buffer.count, mv_data: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
            let rc = mdb_del(handle, database.dbi, &keyValue, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBError.check(rc, "mdb_del(\(database.name))")
            return true
        }
    }

    /// Removes every entry of `database`, keeping the database itself.
    public func clear(_ database: Database) throws(LMDBError) {
        precondition(isOpen, "transaction used after it ended")
        try LMDBError.check(mdb_drop(handle, database.dbi, 0), "mdb_drop(\(database.name))")
    }

    /// Deletes `database` from the environment, its entries and its name; its handle is closed
    /// and must not be used again.
    public func drop(_ database: Database) throws(LMDBError) {
        precondition(isOpen, "transaction used after it ended")
        try LMDBError.check(mdb_drop(handle, database.dbi, 1), "mdb_drop(\(database.name), delete)")
    }
}

/// Calls `body` with the bytes of `array`, typed-throwing.
@inline(__always)
func withBuffer<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(LMDBError) -> R) throws(LMDBError) -> R {
    let result: Result<R, LMDBError> = array.withUnsafeBytes { buffer in
        do throws(LMDBError) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}
