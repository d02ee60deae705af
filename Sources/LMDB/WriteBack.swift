import CLMDB

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
        clmdb_write_back(fileDescriptor, Int64(offset), Int64(count)) == 0
    }
}
