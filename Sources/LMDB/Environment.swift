import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment: one data directory holding `data.mdb` and `lock.mdb`.
///
/// Transactions are managed: ``read(_:)`` and ``write(_:)`` begin one, pass it to the closure, and
/// commit when the closure returns or abort when it throws. The closures are synchronous, so no
/// transaction can cross an `await`. The environment is opened with `MDB_NOTLS`, so a read
/// transaction is not tied to the thread that began it.
///
/// The memory map grows by itself: when a write hits `MDB_MAP_FULL`, the transaction is aborted,
/// the map is doubled (up to ``Configuration/maximumMapSize``) and the write closure runs again.
/// At the maximum, the write fails with ``LMDBError/Kind/mapFull``; when the file system is full,
/// the commit fails with ``LMDBError/Kind/diskFull``. Either way nothing of the transaction is
/// kept, earlier commits are intact, and the environment stays usable for reads and later writes.
///
/// Before LMDB maps an existing data file, its header is checked (``DataFileHeader/inspect(_:)``):
/// an empty, truncated or foreign file is refused with an error and nothing is created beside it.
///
/// - Important: mmap hazards. Values returned by ``ReadTransaction/get(_:key:)`` point into the map
///   and are valid only until the transaction ends; copy what must outlive it. Never open the same
///   data directory twice in one process (LMDB forbids it: locks are per process).
public final class Environment: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var path: String
        public var maximumDatabases: Int = 32
        /// The map's size at open (never below what the data file already uses). A writable
        /// environment starts at no more than ``maximumMapSize``.
        public var initialMapSize: Int = 64 << 20
        /// The largest the map, and so the data file, may grow: the bound on the store's size.
        public var maximumMapSize: Int = 1 << 40
        public var maximumReaders: Int = 1024
        /// `false` skips the fsync at commit (`MDB_NOSYNC`); durability then rests on ``sync(force:)``.
        public var syncOnCommit: Bool = true
        public var readOnly: Bool = false
        /// The permission bits of the files LMDB creates. `UInt16` rather than `mode_t`: on Linux
        /// `mode_t` reaches Swift both through Glibc and through lmdb.h's sys/types.h, so which
        /// module a public `mode_t` belongs to (and so which import must be public) changed between
        /// debug and whole-module builds. Every permission value fits, on every platform.
        public var fileMode: UInt16 = 0o600

        public init(path: String) {
            self.path = path
        }
    }

    public let configuration: Configuration
    let handle: OpaquePointer
    /// Changing the map size requires that this process has no transaction open, and unmaps the
    /// map: transactions, and everything else that reads the map (``info``, a
    /// ``PinnedSnapshot``'s start and its free pages), hold this lock shared; growing the map takes
    /// it exclusively. Never taken twice by one thread: the lock prefers a waiting growth, which
    /// would then wait for the first hold while the second waits for it.
    fileprivate let resizeLock: ReadWriteLock
    private var currentMapSize: Int
    /// The environment's page size, fixed when it was created.
    private let pageSize: Int

    public init(configuration: Configuration) throws(LMDBError) {
        self.configuration = configuration
        let dataFile = configuration.path + "/data.mdb"
        if access(dataFile, F_OK) == 0 {
            _ = try DataFileHeader.inspect(dataFile)
        }
        let initialMapSize = configuration.readOnly
            ? configuration.initialMapSize : min(configuration.initialMapSize, configuration.maximumMapSize)
        var env: OpaquePointer?
        try LMDBError.check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(kind: .invalid, code: EINVAL, operation: "mdb_env_create") }
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(configuration.maximumDatabases)), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_maxreaders(env, UInt32(configuration.maximumReaders)), "mdb_env_set_maxreaders")
            try LMDBError.check(mdb_env_set_mapsize(env, initialMapSize), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            if !configuration.syncOnCommit { flags |= UInt32(MDB_NOSYNC) }
            if configuration.readOnly { flags |= UInt32(MDB_RDONLY) }
            try LMDBError.check(
                mdb_env_open(env, configuration.path, flags, mode_t(configuration.fileMode)),
                "mdb_env_open(\(configuration.path))"
            )
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.resizeLock = ReadWriteLock()
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        self.currentMapSize = info.me_mapsize
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        self.pageSize = Int(stat.ms_psize)
    }

    deinit {
        mdb_env_close(handle)
    }

    /// Opens (and with `create`, creates) a named database. Handles stay valid for the life of the
    /// environment; open them all once at start, as the store's schema does.
    public func openDatabase(_ name: String, create: Bool = true) throws(LMDBError) -> Database {
        if configuration.readOnly {
            // A read-only environment has no write transactions; a handle opened in a read
            // transaction becomes shared when that transaction commits.
            resizeLock.lockShared()
            defer { resizeLock.unlock() }
            let txn = try ReadTransaction(environment: self, flags: UInt32(MDB_RDONLY))
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(txn.handle, name, 0, &dbi)
            guard rc == MDB_SUCCESS else {
                txn.abort()
                try LMDBError.check(rc, "mdb_dbi_open(\(name))")
                preconditionFailure("unreachable")
            }
            txn.markCommitted()
            try LMDBError.check(mdb_txn_commit(txn.handle), "mdb_txn_commit")
            return Database(name: name, dbi: dbi)
        }
        let dbi: MDB_dbi = try writeOnce { txn throws(LMDBError) in
            var dbi = MDB_dbi()
            try LMDBError.check(mdb_dbi_open(txn.handle, name, create ? UInt32(MDB_CREATE) : 0, &dbi), "mdb_dbi_open(\(name))")
            return dbi
        }
        return Database(name: name, dbi: dbi)
    }

    /// Runs `body` in a read-only transaction, which sees the state of the last commit.
    public func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        while true {
            do {
                resizeLock.lockShared()
                defer { resizeLock.unlock() }
                let txn = try ReadTransaction(environment: self, flags: UInt32(MDB_RDONLY))
                defer { txn.abort() }
                return try body(txn)
            } catch let error as LMDBError where error.kind == .mapResized {
                // Another process (the daemon) grew the map: adopt its size and read again.
                try adoptMapSize()
            }
        }
    }

    /// Runs `body` in a write transaction and commits when it returns; aborts if it throws.
    ///
    /// If the map fills up, the map grows and `body` runs again from the start in a new transaction,
    /// so `body` must keep its results inside the transaction's work (not in state outside it).
    /// LMDB allows one write transaction at a time per environment; concurrent callers block.
    @discardableResult
    public func write<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        while true {
            let usedMapSize: Int
            do {
                resizeLock.lockShared()
                defer { resizeLock.unlock() }
                usedMapSize = currentMapSizeLocked()
                do {
                    let txn = try WriteTransaction(environment: self)
                    do {
                        let result = try body(txn)
                        do throws(LMDBError) { try txn.commit() } catch { throw classifyCommitFailure(error) }
                        return result
                    } catch {
                        txn.abort()
                        throw error
                    }
                }
            } catch let error as LMDBError where error.kind == .mapFull {
                try grow(from: usedMapSize, error: error)
            } catch let error as LMDBError where error.kind == .mapResized {
                try adoptMapSize()
            }
        }
    }

    private func writeOnce<R>(_ body: (WriteTransaction) throws(LMDBError) -> R) throws(LMDBError) -> R {
        do {
            return try write { txn in try body(txn) }
        } catch let error as LMDBError {
            throw error
        } catch {
            preconditionFailure("unreachable: body throws only LMDBError")
        }
    }

    /// Flushes the data to disk. With ``Configuration/syncOnCommit`` `false`, this is what makes
    /// earlier commits durable.
    public func sync(force: Bool = true) throws(LMDBError) {
        try LMDBError.check(mdb_env_sync(handle, force ? 1 : 0), "mdb_env_sync")
    }

    /// Flushes the data file as ``sync(force:)`` does, after writing its dirty pages back `slice`
    /// bytes at a time, each slice waited for: another file's flush on the same disk (a journal's)
    /// then waits behind one slice, not behind all of them. Safe while transactions run.
    public func sync(inSlicesOf slice: Int) throws(LMDBError) {
        precondition(slice > 0, "a slice of \(slice) bytes")
        var fd: mdb_filehandle_t = -1
        try LMDBError.check(mdb_env_get_fd(handle, &fd), "mdb_env_get_fd")
        var status = stat()
        if fstat(fd, &status) == 0 {
            var offset = 0
            while offset < Int(status.st_size) {
                guard WriteBack.range(of: fd, offset: offset, count: slice) else { break }
                offset += slice
            }
        }
        try sync(force: true)
    }

    /// Writes back the data file's dirty pages among pages `0...lastPage`, except the pages in
    /// `skipping` (ascending), and waits for them, about `slice` bytes at a time as
    /// ``sync(inSlicesOf:)`` does; it does not flush the disk's cache, nor the file's size or
    /// block map (see ``WriteBack``). Returns the runs of pages it wrote back, as page ranges.
    /// Safe while transactions run.
    public func writeBack(throughPage lastPage: Int, skipping: [Int], inSlicesOf slice: Int) throws(LMDBError) -> [Range<Int>] {
        precondition(slice > 0, "a slice of \(slice) bytes")
        var fd: mdb_filehandle_t = -1
        try LMDBError.check(mdb_env_get_fd(handle, &fd), "mdb_env_get_fd")
        var runs: [Range<Int>] = []
        var next = 0
        for page in skipping where page >= next && page <= lastPage {
            if page > next { runs.append(next..<page) }
            next = page + 1
        }
        if next <= lastPage { runs.append(next..<lastPage + 1) }
        var waitFrom = 0, started = 0
        for (index, run) in runs.enumerated() {
            try WriteBack.start(of: fd, offset: run.lowerBound * pageSize, count: run.count * pageSize)
            started += run.count * pageSize
            if started >= slice || index == runs.count - 1 {
                try WriteBack.wait(of: fd, offset: waitFrom * pageSize, count: (run.upperBound - waitFrom) * pageSize)
                waitFrom = run.upperBound
                started = 0
            }
        }
        return runs
    }

    /// Turns the flush at commit on or off while the environment is open (`MDB_NOSYNC`). Call it
    /// only while no write transaction is open in this process.
    public func setSyncOnCommit(_ sync: Bool) throws(LMDBError) {
        try LMDBError.check(mdb_env_set_flags(handle, UInt32(MDB_NOSYNC), sync ? 0 : 1), "mdb_env_set_flags(MDB_NOSYNC)")
    }

    /// Holds the state of the last commit from reuse until ``PinnedSnapshot/release()``: LMDB
    /// writes later commits to pages that state does not use, so once it has been flushed it stays
    /// whole on disk whatever happens to the pages written after it. Reads nothing; see
    /// ``PinnedSnapshot``.
    public func pinSnapshot() throws(LMDBError) -> PinnedSnapshot {
        try PinnedSnapshot(environment: self)
    }

    public struct Info: Sendable {
        public var mapSize: Int
        public var usedBytes: Int
        public var lastTransactionID: Int
        public var pageSize: Int
    }

    /// Read from the newest meta page, in the map: waits while the map grows, so not from inside a
    /// ``read(_:)`` or ``write(_:)`` body (see ``resizeLock``).
    public var info: Info {
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return Info(
            mapSize: info.me_mapsize,
            usedBytes: (info.me_last_pgno + 1) * pageSize,
            lastTransactionID: info.me_last_txnid,
            pageSize: pageSize
        )
    }

    /// How the map's pages are about to be read, for the kernel's read-ahead (``advise(_:)``).
    public enum Access: Sendable {
        /// The kernel's default: a page fault reads the pages around the one asked for too.
        case normal
        /// A fault reads its page alone (`MADV_RANDOM`).
        case random
    }

    /// Advises the kernel how the map's pages will be read (`madvise`): this process's map only
    /// (another process's map of the same file keeps its own). LMDB leaves the default, under which a fault on a page not in
    /// the page cache also reads the block device's read-ahead window around it (128 KiB by
    /// default, 8 MiB on the virtual disk this was measured on): for B-tree pages spread over the
    /// file, mostly pages nobody asked for. A hint only: ignored where `madvise` fails, and the
    /// default again once the map grows.
    public func advise(_ access: Access) {
        // Inside a read transaction, whose shared hold of the resize lock keeps the map where it is
        // found (a nested hold could deadlock behind a waiting resize: the lock prefers writers).
        _ = try? read { txn in
            guard let map = mapRange(txn) else { return }
            _ = madvise(map.start, map.count, access == .random ? MADV_RANDOM : MADV_NORMAL)
        }
    }

    /// Runs `body` with the map advised for random reads (``advise(_:)``), and the default again
    /// after: for a walk over B-tree pages spread through a file the page cache may not hold.
    public func readingAtRandom<R>(_ body: () throws -> R) rethrows -> R {
        advise(.random)
        defer { advise(.normal) }
        return try body()
    }

    /// Where the map lies in this process: the mapping (`/proc/self/maps`) that holds a page of the
    /// main database, read in `txn` (`mdb_env_info` names the map's address only for a fixed map).
    /// Nil where there is no `/proc`, or the main database is empty.
    func mapRange(_ txn: ReadTransaction) -> (start: UnsafeMutableRawPointer, count: Int)? {
        guard let inside = try? txn.withCursor(Self.mainDatabase(txn), { cursor in
            try cursor.first().flatMap { UInt(bitPattern: $0.value.baseAddress) }
        }) else { return nil }
        guard let maps = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(maps) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, maps) > 0, let line {
            // "start-end perms offset dev inode path", the addresses in hex.
            var end: UnsafeMutablePointer<CChar>?
            let start = UInt(strtoull(line, &end, 16))
            guard let end, end.pointee == CChar(UInt8(ascii: "-")) else { continue }
            let stop = UInt(strtoull(end + 1, nil, 16))
            if start <= inside, inside < stop, let address = UnsafeMutableRawPointer(bitPattern: start) {
                return (address, Int(stop - start))
            }
        }
        return nil
    }

    private func currentMapSizeLocked() -> Int {
        currentMapSize
    }

    private func grow(from usedMapSize: Int, error: LMDBError) throws(LMDBError) {
        resizeLock.lockExclusive()
        defer { resizeLock.unlock() }
        // Another writer may have grown it while we waited for the lock.
        guard currentMapSize == usedMapSize else { return }
        let limit = configuration.maximumMapSize
        guard currentMapSize < limit else {
            var full = error
            full.detail = "the data file reached its configured maximum size of \(ByteCount.text(limit))"
            throw full
        }
        let next = min(limit, max(currentMapSize * 2, currentMapSize + (64 << 20)))
        try LMDBError.check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize(\(next))")
        currentMapSize = next
    }

    /// LMDB reports a write that the file system cut short as `EIO`, not `ENOSPC` (a `pwrite` of
    /// several pages that ran out of space part way returns a short count). When the file system of
    /// the environment has (next to) no space left, that is a full disk.
    private func classifyCommitFailure(_ error: LMDBError) -> LMDBError {
        guard error.kind == .system(errno: EIO), let free = freeBytes(), free < 1 << 20 else { return error }
        return LMDBError(kind: .diskFull, code: ENOSPC, operation: error.operation,
                         detail: "a short write with \(ByteCount.text(free)) left on the file system: the disk is full")
    }

    /// Bytes available to this process on the file system holding the environment.
    public func freeBytes() -> Int? {
        var info = statvfs()
        guard statvfs(configuration.path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    private func adoptMapSize() throws(LMDBError) {
        resizeLock.lockExclusive()
        defer { resizeLock.unlock() }
        try LMDBError.check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(0)")
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        currentMapSize = info.me_mapsize
    }
}

extension Environment {
    /// LMDB's main database, whose keys name the named databases and whose values are their roots.
    static func mainDatabase(_ txn: ReadTransaction) throws(LMDBError) -> Database {
        var dbi = MDB_dbi()
        try LMDBError.check(mdb_dbi_open(txn.handle, nil, 0, &dbi), "mdb_dbi_open(main)")
        return Database(name: "(main)", dbi: dbi)
    }

    /// The names of the named databases in the environment (the keys of LMDB's main database), to
    /// tell a fresh or foreign environment from one of ours before creating anything in it.
    public func databaseNames() throws -> [String] {
        try read { txn in
            try txn.withCursor(Self.mainDatabase(txn)) { cursor in
                var names: [String] = []
                var entry = try cursor.first()
                while let (key, _) = entry {
                    names.append(String(decoding: key, as: UTF8.self))
                    entry = try cursor.next()
                }
                return names
            }
        }
    }
}

/// Byte counts for messages: `64 GiB`, `1.5 MiB`, `512 bytes`.
public enum ByteCount {
    public static func text(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        guard bytes >= 1024 else { return "\(bytes) bytes" }
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let rounded = (value * 10).rounded() / 10
        let number = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
        return "\(number) \(units[unit])"
    }
}

/// A read transaction kept open so that LMDB reuses none of the pages of the state it began on
/// (LMDB frees a page for reuse only once no reader can see it), and read only for its free pages.
/// It does not hold the environment's resize lock while open: growing the map meanwhile is safe,
/// since LMDB checks only for a write transaction there and a transaction that is not reading
/// holds no pointer into the map; its start and ``freePages()`` read the map, and take the lock.
/// Not bound to a thread (`MDB_NOTLS`); released at the latest when it is freed.
public final class PinnedSnapshot: @unchecked Sendable {
    private var transaction: ReadTransaction?
    private let resizeLock: ReadWriteLock

    init(environment: Environment) throws(LMDBError) {
        resizeLock = environment.resizeLock
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        transaction = try ReadTransaction(environment: environment, flags: UInt32(MDB_RDONLY))
    }

    /// The transaction whose state is pinned.
    public var transactionID: Int {
        guard let transaction else { return 0 }
        return Int(mdb_txn_id(transaction.handle))
    }

    /// The pages the pinned state does not use: every page its free-page database (LMDB's
    /// `FREE_DBI`) lists, in ascending order. At a commit boundary that database lists every page
    /// free in that state (a writer puts back the pages it took out and did not use before it
    /// commits), and nothing in the state points at them. Empty after ``release()``.
    public func freePages() throws -> [Int] {
        guard let transaction else { return [] }
        resizeLock.lockShared()
        defer { resizeLock.unlock() }
        var pages: [Int] = []
        try transaction.withCursor(Database(name: "free pages", dbi: 0)) { (cursor: inout Cursor) throws(LMDBError) in
            var entry = try cursor.first()
            while let (_, value) = entry {
                // An ID list: its length, then that many page numbers (size_t each, descending).
                let width = MemoryLayout<Int>.size
                guard value.count >= width else { break }
                let count = value.loadUnaligned(as: Int.self)
                guard count >= 0, (count + 1) * width <= value.count else {
                    throw LMDBError(kind: .corrupted, code: MDB_CORRUPTED, operation: "freePages",
                                    detail: "a free-page list of \(value.count) bytes says it holds \(count) pages")
                }
                for index in stride(from: 1, through: count, by: 1) {
                    pages.append(value.loadUnaligned(fromByteOffset: index * width, as: Int.self))
                }
                entry = try cursor.next()
            }
        }
        pages.sort()
        return pages
    }

    /// Lets LMDB reuse the pinned state's pages. Idempotent; call it from one thread at a time.
    public func release() {
        transaction?.abort()
        transaction = nil
    }

    deinit {
        transaction?.abort()
    }
}
