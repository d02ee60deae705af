import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a file's dirty pages back to the disk in bounded steps, for writers that share the disk
/// with a journal: a flush of the whole file at once queues every later flush on the disk (the
/// journal's, at each commit) behind all of it; written back a slice at a time, each slice waited
/// for, a commit's flush waits behind one slice at most.
public enum WriteBack {
    /// Writes back the dirty pages of `fileDescriptor` in `[offset, offset + count)` and waits for
    /// them, without flushing the disk's cache: a flush (`fsync`, ``Environment/sync(force:)``)
    /// must still follow for durability. Linux `sync_file_range`; elsewhere it does nothing (the
    /// flush does the work). Returns false when the system refused (errno says why).
    public static func range(of fileDescriptor: Int32, offset: Int, count: Int) -> Bool {
        clmdb_sync_file_range(fileDescriptor, Int64(offset), Int64(count),
                              CLMDB_SYNC_FILE_RANGE_WAIT_BEFORE | CLMDB_SYNC_FILE_RANGE_WRITE | CLMDB_SYNC_FILE_RANGE_WAIT_AFTER) == 0
    }

    /// Starts writing back the dirty pages of `fileDescriptor` in `[offset, offset + count)`, after
    /// waiting for those of them already being written (a page written to again since must be
    /// written with what it holds now), and returns without waiting for the new writes:
    /// ``wait(of:offset:count:)`` does. Linux `sync_file_range`; elsewhere it does nothing.
    public static func start(of fileDescriptor: Int32, offset: Int, count: Int) throws(LMDBError) {
        guard clmdb_sync_file_range(fileDescriptor, Int64(offset), Int64(count), CLMDB_SYNC_FILE_RANGE_WAIT_BEFORE | CLMDB_SYNC_FILE_RANGE_WRITE) == 0 else {
            throw LMDBError(kind: LMDBError.kind(of: errno), code: errno, operation: "sync_file_range(write)")
        }
    }

    /// Waits for the writes of `fileDescriptor`'s pages in `[offset, offset + count)` under way.
    /// A write that failed is reported here, or by the next flush of the file.
    public static func wait(of fileDescriptor: Int32, offset: Int, count: Int) throws(LMDBError) {
        guard clmdb_sync_file_range(fileDescriptor, Int64(offset), Int64(count), CLMDB_SYNC_FILE_RANGE_WAIT_AFTER) == 0 else {
            throw LMDBError(kind: LMDBError.kind(of: errno), code: errno, operation: "sync_file_range(wait)")
        }
    }

    /// The type of the file system holding `fileDescriptor` (Linux `statfs`'s `f_type`, such as
    /// `0xEF53` for ext2/3/4), nil where it cannot be read.
    public static func fileSystemType(of fileDescriptor: Int32) -> Int? {
        let type = clmdb_file_system_type(fileDescriptor)
        return type < 0 ? nil : Int(type)
    }
}
