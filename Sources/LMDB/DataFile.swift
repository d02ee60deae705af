import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the two meta pages at the start of an LMDB data file say, read with plain file I/O.
///
/// LMDB maps the data file and trusts it: a file shorter than its newest transaction says (a
/// truncated copy, a full disk during a copy) makes the first read of a missing page fault with
/// SIGBUS, and an empty file is silently initialised as a new environment. ``inspect(_:)`` checks
/// the header before LMDB sees the file, so such a file is refused with an error instead, and
/// nothing (not even `lock.mdb`) is created beside it.
public struct DataFileHeader: Sendable, Equatable {
    public var pageSize: Int
    /// The last page the newest committed transaction uses.
    public var lastPage: Int
    /// The newest committed transaction.
    public var transactionID: Int
    /// The file's size in bytes.
    public var fileSize: Int

    /// The smallest size of a complete file: every page up to ``lastPage``.
    public var requiredSize: Int { (lastPage + 1) * pageSize }

    /// The layout of LMDB 0.9's meta page (`MDB_page` header, then `MDB_meta`) on 64-bit hosts.
    private enum Layout {
        static let flags = 10            // MDB_page.mp_flags (UInt16)
        static let metaFlag: UInt16 = 0x08 // P_META
        static let magic = 16            // MDB_meta.mm_magic (UInt32)
        static let version = 20          // MDB_meta.mm_version (UInt32)
        static let pageSize = 40         // mm_dbs[FREE_DBI].md_pad holds the page size (UInt32)
        static let lastPage = 136        // mm_last_pg (UInt64)
        static let transactionID = 144   // mm_txnid (UInt64)
        static let size = 152
        static let magicValue: UInt32 = 0xBEEF_C0DE
        /// MDB_DATA_VERSION of LMDB 0.9 (not exported by lmdb.h).
        static let dataVersion: UInt32 = 1
    }

    /// Reads and checks the data file at `path`. Throws ``LMDBError`` with kind
    /// ``LMDBError/Kind/invalid`` (not an LMDB data file), ``LMDBError/Kind/versionMismatch`` (a data
    /// file of another LMDB data version) or ``LMDBError/Kind/corrupted`` (empty or truncated), with a
    /// ``LMDBError/detail`` that says what was found. Only reads.
    public static func inspect(_ path: String) throws(LMDBError) -> DataFileHeader {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(kind: LMDBError.kind(of: errno), code: errno, operation: "open(\(path))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LMDBError(kind: LMDBError.kind(of: errno), code: errno, operation: "fstat(\(path))") }
        let fileSize = Int(info.st_size)
        func fail(_ kind: LMDBError.Kind, _ code: Int32, _ detail: String) -> LMDBError {
            LMDBError(kind: kind, code: code, operation: "check(\(path))", detail: detail)
        }
        guard fileSize > 0 else {
            throw fail(.corrupted, MDB_CORRUPTED, "the data file is empty (0 bytes): it was truncated, or its creation was interrupted")
        }
        func meta(at offset: Int) throws(LMDBError) -> (pageSize: Int, lastPage: Int, transactionID: Int)? {
            var bytes = [UInt8](repeating: 0, count: Layout.size)
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Layout.size, off_t(offset)) }
            guard count >= 0 else { throw LMDBError(kind: LMDBError.kind(of: errno), code: errno, operation: "pread(\(path))") }
            guard count == Layout.size else { return nil }
            func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
                bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
            }
            guard load(Layout.magic, UInt32.self) == Layout.magicValue, load(Layout.flags, UInt16.self) & Layout.metaFlag != 0 else {
                throw fail(.invalid, MDB_INVALID, "not an LMDB data file (no LMDB meta page at byte \(offset))")
            }
            let version = load(Layout.version, UInt32.self)
            guard version == Layout.dataVersion else {
                throw fail(.versionMismatch, MDB_VERSION_MISMATCH,
                           "an LMDB data file of data version \(version); this LMDB reads version \(Layout.dataVersion)")
            }
            return (Int(load(Layout.pageSize, UInt32.self)),
                    Int(truncatingIfNeeded: load(Layout.lastPage, UInt64.self)),
                    Int(truncatingIfNeeded: load(Layout.transactionID, UInt64.self)))
        }
        guard let first = try meta(at: 0) else {
            throw fail(.corrupted, MDB_CORRUPTED, "the data file has \(fileSize) bytes, too few for LMDB's first meta page: it was truncated")
        }
        guard first.pageSize >= 512, first.pageSize <= 1 << 16, first.pageSize & (first.pageSize - 1) == 0 else {
            throw fail(.invalid, MDB_INVALID, "not an LMDB data file (page size \(first.pageSize))")
        }
        guard let second = try meta(at: first.pageSize) else {
            throw fail(.corrupted, MDB_CORRUPTED,
                       "the data file has \(fileSize) bytes, too few for LMDB's second meta page at byte \(first.pageSize): it was truncated")
        }
        let newest = second.transactionID > first.transactionID ? second : first
        let header = DataFileHeader(pageSize: first.pageSize, lastPage: newest.lastPage, transactionID: newest.transactionID, fileSize: fileSize)
        guard header.lastPage >= 1, header.lastPage < Int.max / header.pageSize else {
            throw fail(.invalid, MDB_INVALID, "not an LMDB data file (last page \(header.lastPage))")
        }
        guard fileSize >= header.requiredSize else {
            throw fail(.corrupted, MDB_CORRUPTED,
                       "the data file has \(fileSize) bytes but its last commit (transaction \(header.transactionID)) uses \(header.requiredSize): it was truncated")
        }
        return header
    }
}
