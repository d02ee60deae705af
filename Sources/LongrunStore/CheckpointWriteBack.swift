import LMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a journal checkpoint writes back of the data file before its state becomes the one a
/// power loss returns to (docs/FORMAT.md, "Journal").
///
/// Between two checkpoints LMDB reuses no page freed since the first, so every commit writes its
/// copied-on-write pages to pages of their own, and most are superseded by the next commit: a
/// flush of the whole file (`fdatasync`) writes every one of them, ~13 pages of 4 KiB per
/// one-transition commit. The checkpointed state needs only its own pages; the others are free
/// in it (its free-page database lists them), and left unwritten they are written over in the
/// page cache once LMDB reuses them after the next checkpoint. Writing back only the state's
/// pages (`sync_file_range`) leaves two things a flush of the file would also have done: the
/// disk's write cache and the file's size and block map. The first comes from flushing another
/// file on the same file system (the journal) where that flushes the disk's cache even when the
/// file has nothing to write; the second is done by flushing the whole file whenever the data
/// file's size or allocated blocks changed since the last checkpoint, which the journal makes rare
/// by keeping the file written with zeros ahead of LMDB's last page (``StoreJournal``).
package enum CheckpointWriteBack: Sendable, Equatable {
    /// The state's pages where the file system is known to allow it (``FileSystemCheck``), the
    /// whole file elsewhere.
    case automatic
    /// Every dirty page of the data file, then `fdatasync`: what LMDB's own flush does.
    case wholeFile
    /// The state's pages whatever the file system (tests, which model the disk themselves).
    case statePages
}

/// The data file's size and the blocks the file system gave it, as `fstat` says (blocks it has
/// promised to a write not yet on disk included, on ext4 and XFS): when neither changed between
/// two checkpoints, no write since the first needed a new block, so no metadata of the file
/// changed that a flush of its data pages alone would leave behind.
struct FileAllocation: Equatable {
    var size: Int
    var blocks: Int

    init?(of fd: Int32) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        size = Int(status.st_size)
        blocks = Int(status.st_blocks)
    }
}

/// Whether a checkpoint may write back only its state's pages on the file system holding the data
/// file, and why not.
enum FileSystemCheck {
    static let ext4Magic = 0xEF53
    /// `FS_JOURNAL_DATA_FL`: the file's data goes through ext4's journal (`chattr +j`).
    static let journalDataFlag = 0x4000
    /// `FS_IOC_GETFLAGS`, `_IOR('f', 1, long)`.
    static let getFlags: UInt = 0x8008_6601

    /// Nil when `dataFile` (and `journal` beside it) allow it; otherwise the reason, for the log.
    ///
    /// Allowed on ext4 in its ordered or writeback data modes only, where an `fdatasync` of a file
    /// with nothing to write still flushes the disk's cache (Linux `fs/ext4/fsync.c`: a barrier is
    /// sent whenever the file's last transaction has already been committed, as it has here, or
    /// through the journal commit otherwise; `Benchmarks/Scripts/checkpoint-flushes.sh` traces it
    /// on a loop device) and a page written back lands where the block map already says. Not with
    /// `data=journal` or a file flagged so (data goes through the journal and is durable only once
    /// it commits), nor `dax` (no page cache). Other file systems flush the whole file: whether an
    /// `fsync` of a file with nothing to write flushes the disk's cache there (btrfs may return
    /// early for an inode already logged) is not checked here.
    static func refusal(dataFile: Int32, journal: Int32) -> String? {
        #if os(Linux)
        guard let type = WriteBack.fileSystemType(of: dataFile) else { return "fstatfs failed: \(String(cString: strerror(errno)))" }
        guard type == ext4Magic else { return "the data file is not on ext4 (file system type 0x\(String(type, radix: 16)))" }
        var data = stat(), journalStatus = stat()
        guard fstat(dataFile, &data) == 0, fstat(journal, &journalStatus) == 0 else { return "fstat failed: \(String(cString: strerror(errno)))" }
        guard data.st_dev == journalStatus.st_dev else { return "the journal is on another file system than the data file" }
        var flags = 0
        guard ioctl(dataFile, getFlags, &flags) == 0 else { return "the data file's flags cannot be read: \(String(cString: strerror(errno)))" }
        guard Int32(truncatingIfNeeded: flags) & Int32(journalDataFlag) == 0 else { return "the data file's data is journaled (chattr +j)" }
        guard let options = superOptions(device: UInt64(data.st_dev)) else { return "the data file's mount is not in /proc/self/mountinfo" }
        if options.contains("data=journal") { return "the file system is mounted with data=journal" }
        if options.contains("dax") || options.contains(where: { $0.hasPrefix("dax=") && $0 != "dax=never" }) {
            return "the file system is mounted with dax"
        }
        return nil
        #else
        return "not Linux"
        #endif
    }

    /// The super-block options of the mount of `device` (`/proc/self/mountinfo`, after " - ": the
    /// type, the source, then these), nil when no line names it.
    static func superOptions(device: UInt64) -> Set<String>? {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        guard let text = readText("/proc/self/mountinfo") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2] == "\(major):\(minor)",
                  let dash = fields.firstIndex(of: "-"), fields.index(dash, offsetBy: 3) < fields.endIndex
            else { continue }
            return Set(fields[fields.index(dash, offsetBy: 3)].split(separator: ",").map(String.init))
        }
        return nil
    }

    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
