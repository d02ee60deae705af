import Crypto
import LMDB
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written through a 1 MiB buffer, hashed as it goes, fsynced by ``finish()``.
///
/// Written back to the disk a buffer (1 MiB) at a time as it goes, each write-back waited for
/// (``WriteBack``, RocksDB's `bytes_per_sync`), and those pages dropped from the page cache: a
/// snapshot of hundreds of megabytes otherwise sits dirty in memory until the final fsync, and the
/// commits' own flushes queue behind its writeback, which stalled commits for hundreds of
/// milliseconds during a snapshot in the soak. Its pages would also push the store's pages out of
/// the cache, and a snapshot is read back only to restore. The write-backs do not flush the disk's
/// cache (an `fdatasync` every 4 MiB did, and a commit's journal flush could wait behind 4 MiB on a
/// slow disk); the final fsync makes the file durable.
final class OutputFile {

    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var hasher = SHA256()
    private var written = 0
    private var synced = 0

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    /// The first write failure; reported by ``finish()`` so writers need not check every call.
    private var failure: StoreError?

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        // Written out before an append that would not fit: the buffer would otherwise be moved to
        // one twice its size, 2 MiB more per snapshot, and a block that size freed makes glibc keep
        // that much free in the arenas from then on (BENCHMARKS.md, "Differential snapshots").
        if buffer.count + bytes.count > buffer.capacity, !buffer.isEmpty, failure == nil {
            do { try flush() } catch { failure = error as? StoreError }
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20, failure == nil {
            do { try flush() } catch { failure = error as? StoreError }
        }
    }

    /// The buffer's capacity (for tests: it stays at what was reserved).
    var bufferCapacity: Int { buffer.capacity }

    func write<T: FixedWidthInteger>(bigEndian value: T) {
        withUnsafeBytes(of: value.bigEndian) { write($0) }
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else {
                let code = errno
                throw StoreError(code == ENOSPC ? .resourceExhausted : .storage, "cannot write \(path): \(String(cString: strerror(code)))")
            }
            offset += written
        }
        written += buffer.count
        buffer.removeAll(keepingCapacity: true)
        // The pages just written: waited for, so that the next slice's pages are all that a
        // commit's flush can find queued ahead of it. A refusal (no sync_file_range) leaves them
        // to the final fsync, in the page cache.
        if written > synced, WriteBack.range(of: fd, offset: synced, count: written - synced) {
            _ = posix_fadvise(fd, off_t(synced), off_t(written - synced), POSIX_FADV_DONTNEED)
            synced = written
        }
    }

    func finish() throws {
        if let failure { throw failure }
        let digest = Array(hasher.finalize())
        buffer.append(contentsOf: digest)
        try flush()
        guard fsync(fd) == 0 else { throw StoreError(.storage, "cannot fsync \(path): \(String(cString: strerror(errno)))") }
        close(fd)
    }

    func abandon() {
        close(fd)
        unlink(path)
    }
}

/// A file read through a 1 MiB buffer, hashing what has been read so far.
final class InputFile {
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var hasher = SHA256()
    private var eof = false

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// SHA-256 of every byte returned so far.
    var digest: [UInt8] { Array(hasher.finalize()) }

    var atEnd: Bool {
        if position < buffer.count { return false }
        return (try? fill()) == false
    }

    func read(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if position == buffer.count {
                guard try fill() else { throw StoreError(.dataLoss, "snapshot \(path) is damaged: it ends early") }
            }
            let take = min(count - out.count, buffer.count - position)
            out.append(contentsOf: buffer[position..<(position + take)])
            position += take
        }
        hasher.update(data: out)
        return out
    }

    func readUInt32() throws -> UInt32 { try read(4).reduce(0) { $0 << 8 | UInt32($1) } }
    func readUInt64() throws -> UInt64 { try read(8).reduce(0) { $0 << 8 | UInt64($1) } }

    private func fill() throws -> Bool {
        guard !eof else { return false }
        buffer = [UInt8](repeating: 0, count: 1 << 20)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
        guard count >= 0 else { throw StoreError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))") }
        buffer.removeSubrange(count...)
        position = 0
        if count == 0 { eof = true }
        return count > 0
    }
}
