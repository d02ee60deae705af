import CCRC32C

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The write-ahead journal's file (docs/FORMAT.md, "Journal"): two checkpoint slots, then a ring of
/// records, each holding the log entries of one committed batch.
///
/// A record is durable when ``append(_:)`` returns (one `fdatasync` of a preallocated file, no
/// metadata to flush); the LMDB commit after it is not flushed at all. A checkpoint says: the data
/// file was flushed with this state's meta pages, whose pages LMDB will not reuse until the next
/// checkpoint is written, and the records from `start` on hold every batch committed after it.
///
/// Only file I/O and the layout live here; ``StoreJournal`` decides when to write what.
final class JournalFile {
    static let name = "journal"
    static let slotSize = 4096
    static let ringOffset = 2 * slotSize
    /// Bytes of each of the two LMDB meta pages a checkpoint keeps: the page header and `MDB_meta`
    /// (152 bytes in LMDB 0.9), rounded up; LMDB writes nothing else in a meta page after creation.
    static let metaBytes = 512
    static let recordHeaderSize = 24
    static let recordMagic: UInt32 = 0x4C52_4A52   // "LRJR"
    static let wrapMagic: UInt32 = 0x4C52_4A57     // "LRJW"
    static let checkpointMagic: UInt32 = 0x4C52_4A43 // "LRJC"
    static let formatVersion: UInt32 = 1

    /// What a checkpoint slot holds.
    struct Checkpoint: Equatable {
        /// Increases with every checkpoint written, across sessions: the newer of the two slots wins.
        var number: UInt64
        /// Records belong to the session that wrote them; a new one starts at every open, so no
        /// record left from an earlier session (or an earlier lap of the ring) is ever taken.
        var session: UInt64
        /// The ring position of the first record after the checkpointed state.
        var start: UInt64
        /// The log's head in the checkpointed state.
        var sequence: UInt64
        /// `/proc/sys/kernel/random/boot_id` when it was written: within the same boot the data
        /// file's pages are as the process left them (a crash of the process loses nothing that was
        /// written), so its meta pages need no restoring.
        var bootID: [UInt8]
        var pageSize: UInt32
        /// The first ``JournalFile/metaBytes`` of each meta page, page 0 then page 1.
        var metas: [UInt8]
    }

    let path: String
    let fd: Int32
    /// The file's size: the two slots and the ring.
    let size: Int
    var ringSize: UInt64 { UInt64(size - Self.ringOffset) }

    private init(path: String, fd: Int32, size: Int) {
        self.path = path
        self.fd = fd
        self.size = size
    }

    deinit { close(fd) }

    /// Opens the journal in `directory`, nil if it has none.
    static func existing(in directory: String, writable: Bool) throws -> JournalFile? {
        let path = directory + "/" + name
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw StoreError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) > ringOffset + recordHeaderSize else {
            let size = Int(info.st_size)
            close(fd)
            throw StoreError(.dataLoss, "\(path) is \(size) bytes, too short for a journal: it was truncated. Nothing was changed. Restore the data directory from a backup")
        }
        return JournalFile(path: path, fd: fd, size: Int(info.st_size))
    }

    /// Creates a journal of `size` bytes in `directory` holding `checkpoint` in slot 0, replacing
    /// any: written beside it, flushed, renamed over it, and the directory flushed.
    static func create(in directory: String, size: Int, checkpoint: Checkpoint) throws -> JournalFile {
        let path = directory + "/" + name
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.storage, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let file = JournalFile(path: path, fd: fd, size: size)
        // Allocated up front, so that a record's flush never has to flush the file's size too.
        let allocated = posix_fallocate(fd, 0, off_t(size))
        guard allocated == 0 else {
            unlink(temporary)
            throw StoreError(allocated == ENOSPC ? .resourceExhausted : .storage,
                             "cannot allocate the \(size >> 20) MiB journal \(temporary): \(String(cString: strerror(allocated)))")
        }
        try file.writeCheckpoint(checkpoint)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw StoreError(.storage, "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(directory)
        return file
    }

    static func remove(in directory: String) {
        if unlink(directory + "/" + name) == 0 { syncDirectory(directory) }
    }

    // MARK: Checkpoints

    /// Writes `checkpoint` into its slot (`number % 2`) and flushes it.
    func writeCheckpoint(_ checkpoint: Checkpoint) throws {
        precondition(checkpoint.metas.count == 2 * Self.metaBytes && checkpoint.bootID.count == 16)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.slotSize)
        bytes.appendBigEndian(Self.checkpointMagic)
        bytes.appendBigEndian(Self.formatVersion)
        bytes.appendBigEndian(checkpoint.number)
        bytes.appendBigEndian(checkpoint.session)
        bytes.appendBigEndian(checkpoint.start)
        bytes.appendBigEndian(checkpoint.sequence)
        bytes.appendBigEndian(ringSize)
        bytes.appendBigEndian(checkpoint.pageSize)
        bytes += checkpoint.bootID
        bytes += checkpoint.metas
        bytes.appendBigEndian(crc(bytes))
        bytes += [UInt8](repeating: 0, count: Self.slotSize - bytes.count)
        try write(bytes, at: Int(checkpoint.number % 2) * Self.slotSize)
        try flush()
    }

    /// The newer of the two slots that hold a whole checkpoint of a ring this size; nil if neither
    /// does.
    func readCheckpoint() throws -> Checkpoint? {
        var best: Checkpoint?
        for slot in 0..<2 {
            let bytes = try read(count: Self.slotSize, at: slot * Self.slotSize)
            var reader = ByteReader(bytes)
            guard reader.uint32() == Self.checkpointMagic, reader.uint32() == Self.formatVersion else { continue }
            let number = reader.uint64(), session = reader.uint64(), start = reader.uint64(), sequence = reader.uint64()
            let ring = reader.uint64(), pageSize = reader.uint32()
            let bootID = reader.bytes(16), metas = reader.bytes(2 * Self.metaBytes)
            let end = reader.offset
            guard reader.uint32() == crc(Array(bytes[..<end])), ring == ringSize else { continue }
            let checkpoint = Checkpoint(number: number, session: session, start: start, sequence: sequence,
                                        bootID: bootID, pageSize: pageSize, metas: metas)
            if best.map({ $0.number < number }) ?? true { best = checkpoint }
        }
        return best
    }

    // MARK: Records

    /// The file offset of ring position `position`.
    private func offset(_ position: UInt64) -> Int { Self.ringOffset + Int(position % ringSize) }

    /// The bytes a record of `entries` takes in the ring (header, payload, CRC, padding to 8).
    static func recordSize(payload: Int) -> UInt64 {
        UInt64((recordHeaderSize + payload + 4 + 7) & ~7)
    }

    /// The payload of a record: each entry's sequence, length and bytes.
    static func payload(_ entries: [(sequence: UInt64, entry: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + 12 + $1.entry.count })
        for (sequence, entry) in entries {
            bytes.appendBigEndian(sequence)
            bytes.appendBigEndian(UInt32(entry.count))
            bytes += entry
        }
        return bytes
    }

    /// Writes a record holding `payload` at `position` of `session` (after a wrap marker when it
    /// would not fit before the ring's end) and flushes it. Returns the position after it.
    ///
    /// With `limit` (the first position a record still needed may lie at: the last checkpoint's
    /// start one lap on), during this file's first lap in the process, the ring ahead of the record
    /// is zeroed in steps of ``zeroingStep``, below `limit`, in the same flush: the file is allocated
    /// with `posix_fallocate`, whose blocks (on ext4) stay unwritten extents until written, and a
    /// flush of a record on such blocks also commits the file system's own journal for them (10 KiB
    /// records: 110–130 µs instead of 78–81 µs, BENCHMARKS.md W6). Zeros are what an unused ring
    /// holds: a reader stops at them.
    func append(payload: [UInt8], session: UInt64, at position: UInt64, zeroingBefore limit: UInt64? = nil) throws -> UInt64 {
        var position = position
        let size = Self.recordSize(payload: payload.count)
        let room = ringSize - position % ringSize
        if room < size {
            // Written unflushed: the record's flush below carries it.
            if room >= UInt64(Self.recordHeaderSize) { try write(header(Self.wrapMagic, length: 0, session: session, position: position), at: offset(position)) }
            position += room
        }
        var bytes = header(Self.recordMagic, length: UInt32(payload.count), session: session, position: position)
        bytes += payload
        bytes.appendBigEndian(crc(bytes))
        bytes += [UInt8](repeating: 0, count: Int(size) - bytes.count)
        if let limit { try zeroAhead(of: position + size, before: limit) }
        try write(bytes, at: offset(position))
        try flush()
        return position + size
    }

    /// How far ahead of a record the first lap's zeroing reaches.
    static let zeroingStep: UInt64 = 32 << 10
    /// Where this process's first record ended (the first lap runs one ring size from there), and
    /// the position the ring is written or zeroed through since: nil before the first record.
    private var firstLap: (start: UInt64, through: UInt64)?

    /// Zeroes the ring from `end` (a record's end) up to ``zeroingStep`` ahead, never at `limit` or
    /// past it nor across the ring's end, once the record comes within half a step of what is
    /// zeroed; only during the first lap since this process's first record. Unflushed.
    private func zeroAhead(of end: UInt64, before limit: UInt64) throws {
        let lap = firstLap ?? (start: end, through: end)
        firstLap = lap
        guard end < lap.start + ringSize, end + Self.zeroingStep / 2 > lap.through else { return }
        let from = max(end, lap.through)
        let lapEnd = from + (ringSize - from % ringSize)
        let to = min(end + Self.zeroingStep, limit, lapEnd)
        guard to > from else { return }
        try write([UInt8](repeating: 0, count: Int(to - from)), at: offset(from))
        firstLap = (lap.start, to)
    }

    /// The space `payload` would take at `position`, a wrap included.
    func space(payload: Int, at position: UInt64) -> UInt64 {
        let size = Self.recordSize(payload: payload)
        let room = ringSize - position % ringSize
        return room < size ? room + size : size
    }

    private func header(_ magic: UInt32, length: UInt32, session: UInt64, position: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.recordHeaderSize)
        bytes.appendBigEndian(magic)
        bytes.appendBigEndian(length)
        bytes.appendBigEndian(session)
        bytes.appendBigEndian(position)
        return bytes
    }

    /// The entries of the records of `session` from `start` on, in order, up to the first position
    /// that holds no whole record of that session (the end of what was written, or a record whose
    /// write was cut short). A record supersedes every entry before it at or after its first
    /// sequence: a batch whose LMDB commit failed after its record was written is written again,
    /// whole, by the next batch.
    func entries(session: UInt64, from start: UInt64) throws -> (entries: [(sequence: UInt64, entry: [UInt8])], end: UInt64) {
        var entries: [(sequence: UInt64, entry: [UInt8])] = []
        var position = start
        while position - start < ringSize {
            let room = ringSize - position % ringSize
            if room < UInt64(Self.recordHeaderSize) {
                position += room
                continue
            }
            var head = ByteReader(try read(count: Self.recordHeaderSize, at: offset(position)))
            let magic = head.uint32(), length = head.uint32()
            guard head.uint64() == session, head.uint64() == position else { break }
            if magic == Self.wrapMagic {
                position += room
                continue
            }
            let size = Self.recordSize(payload: Int(length))
            guard magic == Self.recordMagic, size <= room else { break }
            let bytes = try read(count: Self.recordHeaderSize + Int(length) + 4, at: offset(position))
            var check = ByteReader(bytes)
            check.offset = bytes.count - 4
            guard check.uint32() == crc(Array(bytes[..<(bytes.count - 4)])) else { break }
            var payload = ByteReader(Array(bytes[Self.recordHeaderSize..<(bytes.count - 4)]))
            var record: [(sequence: UInt64, entry: [UInt8])] = []
            while payload.remaining >= 12 {
                let sequence = payload.uint64(), count = Int(payload.uint32())
                guard payload.remaining >= count else { break }
                record.append((sequence, payload.bytes(count)))
            }
            if let first = record.first?.sequence {
                entries.removeAll { $0.sequence >= first }
                entries += record
            }
            position += size
        }
        return (entries, position)
    }

    // MARK: I/O

    private func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw StoreError(errno == ENOSPC ? .resourceExhausted : .storage, "cannot write the journal \(path): \(String(cString: strerror(errno)))")
            }
            done += written
        }
    }

    /// Flushes the journal: its own pages, and the disk's write cache even when it has none to
    /// write (on ext4; a checkpoint relies on it, ``CheckpointWriteBack``).
    func flush() throws {
        guard fdatasync(fd) == 0 else {
            throw StoreError(.storage, "cannot flush the journal \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func read(count: Int, at offset: Int) throws -> [UInt8] {
        guard offset + count <= size else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw StoreError(.storage, "cannot read the journal \(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { return Array(bytes[..<done]) }
            done += got
        }
        return bytes
    }

    private func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { longrun_crc32c_extend(0, $0.baseAddress, $0.count) }
    }
}

/// Big-endian fields from bytes; reading past the end yields zeros (and a record that fails its
/// CRC or magic check).
private struct ByteReader {
    let data: [UInt8]
    var offset = 0

    init(_ data: [UInt8]) { self.data = data }

    var remaining: Int { data.count - offset }

    mutating func uint64() -> UInt64 { UInt64(uint32()) << 32 | UInt64(uint32()) }

    mutating func uint32() -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(offset < data.count ? data[offset] : 0); offset += 1 }
        return value
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        let end = min(data.count, offset + count)
        defer { offset += count }
        return offset < end ? Array(data[offset..<end]) + [UInt8](repeating: 0, count: count - (end - offset)) : [UInt8](repeating: 0, count: count)
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
