import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every failure the LMDB layer reports. Built in exactly one place, ``LMDBError/check(_:_:)``,
/// from LMDB's return code, so callers switch over ``Kind`` and never see a raw `MDB_*` number.
public struct LMDBError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The memory map is full. ``Environment/write(_:)`` grows the map and retries; callers see
        /// this only when the configured maximum map size has been reached.
        case mapFull
        /// The filesystem has no space left (`ENOSPC`) or the quota is exhausted (`EDQUOT`).
        case diskFull
        /// Too many dirty pages in one transaction: the batch must be split.
        case transactionFull
        /// Another process grew the map; the environment adopts the new size and retries.
        case mapResized
        /// All reader slots are taken (`maxReaders`).
        case readersFull
        /// A key that must be unique already exists (`MDB_NOOVERWRITE`, `MDB_APPEND` out of order).
        case keyExists
        /// The data file is damaged or is not an LMDB file of this version.
        case corrupted
        case versionMismatch
        case incompatible
        case invalid
        /// The environment hit a fatal error and must be closed.
        case panic
        case badValueSize
        case badDatabase
        case badTransaction
        case databasesFull
        /// An operating-system error other than the ones named above.
        case system(errno: Int32)
        case other(code: Int32)
    }

    public var kind: Kind
    public var code: Int32
    /// What the layer was doing, e.g. `mdb_put(log)`.
    public var operation: String
    /// Extra text for the user, e.g. the map limit that was reached.
    public var detail: String?

    public init(kind: Kind, code: Int32, operation: String, detail: String? = nil) {
        self.kind = kind
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        var text = "\(operation): \(String(cString: mdb_strerror(code))) (\(code))"
        if let detail { text += ": \(detail)" }
        return text
    }

    /// The one conversion from LMDB return codes to ``LMDBError``. `MDB_SUCCESS` returns normally.
    @inline(__always)
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
        guard code != MDB_SUCCESS else { return }
        throw LMDBError(kind: kind(of: code), code: code, operation: operation())
    }

    static func kind(of code: Int32) -> Kind {
        switch code {
        case MDB_MAP_FULL: .mapFull
        case MDB_TXN_FULL, MDB_CURSOR_FULL: .transactionFull
        case MDB_MAP_RESIZED: .mapResized
        case MDB_READERS_FULL: .readersFull
        case MDB_KEYEXIST: .keyExists
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND: .corrupted
        case MDB_VERSION_MISMATCH: .versionMismatch
        case MDB_INCOMPATIBLE: .incompatible
        case MDB_INVALID: .invalid
        case MDB_PANIC: .panic
        case MDB_BAD_VALSIZE: .badValueSize
        case MDB_BAD_DBI: .badDatabase
        case MDB_BAD_TXN, MDB_BAD_RSLOT: .badTransaction
        case MDB_DBS_FULL: .databasesFull
        case ENOSPC, EDQUOT: .diskFull
        case 1...: .system(errno: code)
        default: .other(code: code)
        }
    }
}
