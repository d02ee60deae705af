import CompressNIO
import Crypto
import LMDB
import LongrunDomain
import NIOCore

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

    /// Set by ``compressFromHere()``: what is written after it goes through it.
    private var deflater: ZlibWriter?

    /// From here on, what is written is compressed as one zlib stream, ended by ``finish()``: the
    /// file and its hash get the compressed bytes (a snapshot's records; its header stays plain).
    func compressFromHere() throws {
        deflater = try ZlibWriter()
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard let deflater else { return writeOut(bytes) }
        do { try deflater.write(bytes, to: writeOut) } catch { fail(error) }
    }

    private func fail(_ error: any Error) {
        guard failure == nil else { return }
        failure = error as? StoreError ?? StoreError(.storage, "cannot compress \(path): \(error)")
    }

    /// Bytes as they go into the file: hashed, buffered, written out a megabyte at a time.
    private func writeOut(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        // Written out before an append that would not fit: the buffer would otherwise be moved to
        // one twice its size, 2 MiB more per snapshot, and a block that size freed makes glibc keep
        // that much free in the arenas from then on (BENCHMARKS.md, "Differential snapshots").
        if buffer.count + bytes.count > buffer.capacity, !buffer.isEmpty, failure == nil {
            do { try flush() } catch { fail(error) }
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20, failure == nil {
            do { try flush() } catch { fail(error) }
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
        if let deflater, failure == nil {
            do { try deflater.finish(to: writeOut) } catch { fail(error) }
        }
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
///
/// After ``inflateFromHere()``, what ``read(_:)`` returns is the inflated zlib stream that fills
/// the file up to its last 32 bytes (``trailerMatches()``), and the hash covers the compressed bytes:
/// the SHA-256 of a compressed snapshot is of the file's bytes, as of a plain one.
final class InputFile {
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var hasher = SHA256()
    private var eof = false
    /// Bytes ``read(_:)`` has returned before ``inflateFromHere()``: where the compressed stream starts.
    private var consumed = 0
    private var inflater: ZlibReader?

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// SHA-256 of every byte returned so far (of a compressed stream, of the bytes it was read from).
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
                guard try fill() else { throw damaged("it ends early") }
            }
            let take = min(count - out.count, buffer.count - position)
            out.append(contentsOf: buffer[position..<(position + take)])
            position += take
        }
        if inflater == nil {
            hasher.update(data: out)
            consumed += count
        }
        return out
    }

    func readUInt32() throws -> UInt32 { try read(4).reduce(0) { $0 << 8 | UInt32($1) } }
    func readUInt64() throws -> UInt64 { try read(8).reduce(0) { $0 << 8 | UInt64($1) } }

    /// From here to the file's last 32 bytes is one zlib stream: ``read(_:)`` returns what it
    /// inflates to.
    func inflateFromHere() throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))") }
        let length = Int(info.st_size) - trailerLength - consumed
        guard length >= 0 else { throw damaged("it ends early") }
        // What the buffer holds past the header is the stream's start (and perhaps the trailer).
        let held = buffer[position...].prefix(length)
        hasher.update(data: held)
        inflater = try ZlibReader(first: held, unread: length - held.count)
        buffer = []
        position = 0
    }

    /// Whether the 32 bytes after the records are the SHA-256 of every byte before them. A
    /// compressed stream must end exactly before them: nothing may follow the count, neither in
    /// what was inflated nor in what is left to inflate. (If the output filled as the last slice
    /// read from disk ran out, the stream's last compressed bytes, its checksum, are still to be
    /// read: this takes them in before asking whether the stream ended.)
    func trailerMatches() throws -> Bool {
        guard let inflater else {
            let digest = digest
            return try read(trailerLength) == digest
        }
        guard position == buffer.count, try !fill(), inflater.ended else {
            throw damaged("its compressed records go on after their count")
        }
        return try lastBytes() == digest
    }

    /// The trailer's bytes, read where they are.
    private func lastBytes() throws -> [UInt8] {
        var trailer = [UInt8](repeating: 0, count: trailerLength)
        var info = stat()
        guard fstat(fd, &info) == 0,
              trailer.withUnsafeMutableBytes({ pread(fd, $0.baseAddress!, $0.count, off_t(info.st_size) - off_t(trailerLength)) }) == trailerLength
        else { throw StoreError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))") }
        return trailer
    }

    /// Why a compressed stream does not inflate: nearly always a changed byte, which the file's
    /// SHA-256 names as it does in a plain snapshot (the rest of the stream is read to check it);
    /// else a stream that was written wrong.
    private func inflateFailure(_ error: any Error, _ inflater: ZlibReader) -> StoreError {
        var left = inflater.unread
        while left > 0, let slice = try? readRaw(min(left, 1 << 20)), !slice.isEmpty {
            hasher.update(data: slice)
            left -= slice.count
        }
        if left == 0, let trailer = try? lastBytes(), trailer != digest {
            return damaged("its SHA-256 does not match its contents")
        }
        return damaged("its compressed records do not inflate (\(error))")
    }

    private let trailerLength = 32

    private func damaged(_ why: String) -> StoreError {
        StoreError(.dataLoss, "snapshot \(path) is damaged: \(why)")
    }

    private func fill() throws -> Bool {
        if let inflater {
            do {
                buffer = try inflater.inflate(upTo: 1 << 20) { count in
                    let slice = try readRaw(count)
                    hasher.update(data: slice)
                    return slice
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw inflateFailure(error, inflater)
            }
            position = 0
            return !buffer.isEmpty
        }
        guard !eof else { return false }
        buffer = try readRaw(1 << 20)
        position = 0
        if buffer.isEmpty { eof = true }
        return !buffer.isEmpty
    }

    /// Up to `count` bytes from the file's current offset; empty at its end.
    private func readRaw(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
        guard read >= 0 else { throw StoreError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))") }
        bytes.removeSubrange(read...)
        return bytes
    }
}

/// One zlib stream (RFC 1950) written at level 1: the bytes written are gathered into 256 KiB
/// slices, each deflated as it fills, and the compressed bytes handed on as they come.
final class ZlibWriter {
    private let compressor: ZlibCompressor
    private var input = ByteBufferAllocator().buffer(capacity: 1 << 18)
    private var output = ByteBufferAllocator().buffer(capacity: 1 << 18)

    init() throws {
        compressor = try ZlibCompressor(algorithm: .zlib, configuration: .init(compressionLevel: .fastestCompression))
    }

    func write(_ bytes: UnsafeRawBufferPointer, to sink: (UnsafeRawBufferPointer) -> Void) throws {
        input.writeBytes(bytes)
        if input.readableBytes >= 1 << 18 { try deflate(.no, to: sink) }
    }

    /// Compresses what is left and ends the stream.
    func finish(to sink: (UnsafeRawBufferPointer) -> Void) throws {
        try deflate(.finish, to: sink)
    }

    private func deflate(_ flush: CompressNIOFlush, to sink: (UnsafeRawBufferPointer) -> Void) throws {
        while true {
            do {
                try compressor.deflate(from: &input, to: &output, flush: flush)
                // Without `.finish`, a return with input left means the output filled.
                if flush == .finish || input.readableBytes == 0 { break }
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output filled (with `.finish`: the stream is not ended yet).
            }
            output.withUnsafeReadableBytes { sink($0) }
            output.clear()
        }
        // Otherwise what the output holds waits for the next call, which empties it when full.
        if flush == .finish {
            output.withUnsafeReadableBytes { sink($0) }
            output.clear()
        }
        input.clear()
    }
}

/// One zlib stream read back: ``inflate(upTo:more:)`` returns the next inflated bytes, asking for
/// compressed ones as it needs them, never more than the stream's length.
final class ZlibReader {
    private let decompressor: ZlibDecompressor
    private var input = ByteBufferAllocator().buffer(capacity: 1 << 20)
    /// Compressed bytes of the stream not read from the file yet.
    private(set) var unread: Int

    init(first: ArraySlice<UInt8>, unread: Int) throws {
        decompressor = try ZlibDecompressor(algorithm: .zlib)
        input.writeBytes(first)
        self.unread = unread
    }

    /// Every compressed byte read and consumed, and nothing more to inflate: the stream ended
    /// exactly where the file says it does. (A stream cut short inflates to records that end
    /// early; one that goes on has bytes left.)
    var ended: Bool { unread == 0 && input.readableBytes == 0 }

    func inflate(upTo count: Int, more: (Int) throws -> [UInt8]) throws -> [UInt8] {
        var output = ByteBufferAllocator().buffer(capacity: count)
        while output.writableBytes > 0 {
            if input.readableBytes == 0, unread > 0 {
                input.clear()
                let slice = try more(min(unread, 1 << 20))
                guard !slice.isEmpty else { break }
                unread -= slice.count
                input.writeBytes(slice)
            }
            // Called with no input left too: what an earlier call inflated beyond a full output
            // comes out then.
            let before = (input.readerIndex, output.writerIndex)
            do {
                try decompressor.inflate(from: &input, to: &output)
            } catch let error as CompressNIOError where error == .bufferOverflow || error == .inputBufferOverflow {
                // The output is full, or the input ran out: the loop sees which.
            }
            // No progress: the stream is all inflated, or it ended before the input (then `ended`
            // is false).
            if (input.readerIndex, output.writerIndex) == before { break }
        }
        return Array(output.readableBytesView)
    }
}
