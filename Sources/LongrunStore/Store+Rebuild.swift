import LMDB
public import Logging
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// Builds a new store in `directory` (which must not hold one) from `source`'s log: copies every
    /// retained log entry, checking the chain as it goes, then folds them into fresh views (replay).
    /// With a snapshot (a restore point: a full one, or a differential with its base), loads its
    /// views first and folds only the events after it. `upTo` stops early.
    public static func rebuild(from source: Store, into directory: String, upTo: UInt64? = nil, snapshot: SnapshotFile.Info? = nil,
                               logger: Logger, progress: StoreProgressHandler? = nil) throws -> Store {
        var configuration = Store.Configuration()
        configuration.syncOnCommit = false
        configuration.maximumMapSize = source.environment.configuration.maximumMapSize
        let target = try Store(directory: directory, configuration: configuration, logger: logger)
        guard try target.read({ try $0.logHead() }) == 0 else {
            throw StoreError(.foreignDirectory, "\(directory) already holds a store; rebuild needs a new directory")
        }
        let (tail, sourceHead, base) = try source.read { reader in (try reader.logTail(), try reader.logHead(), try reader.baseHash()) }
        let last = min(upTo ?? sourceHead, sourceHead)
        if let snapshot {
            let (header, baseHeader) = try SnapshotFile.verifyRestorePoint(snapshot)
            guard try source.read({ try $0.chainHash(at: header.sequence) }) == header.chainHash else {
                throw StoreError(.dataLoss, "snapshot \(snapshot.path) does not belong to this log: its chain hash at \(header.sequence) differs (or the log no longer reaches back to it)")
            }
            if let baseHeader, try !source.logAgrees(with: baseHeader) {
                throw StoreError(.dataLoss, "the base \(snapshot.basePath ?? "") of snapshot \(snapshot.path) does not belong to this log: its chain hash at \(baseHeader.sequence) differs")
            }
            guard header.sequence <= last else {
                throw StoreError(.dataLoss, "snapshot \(snapshot.path) is at \(header.sequence), after the last event to rebuild (\(last))")
            }
            // An empty log was compacted through the snapshot: it starts after it.
            let repairedLater = try source.read { try $0.namesRepairedFirst(after: header.sequence, through: last) }
            try target.write { writer in
                try SnapshotFile.load(snapshot, into: writer, logStart: tail ?? header.sequence + 1, repairedLater: repairedLater)
            }
            progress?(StoreProgress(phase: "loaded snapshot", done: header.sequence, total: last))
        } else if let tail, tail > 1 {
            throw StoreError(.dataLoss, "the log starts at \(tail) (older events were compacted): rebuild needs a snapshot at \(tail - 1) or later")
        }
        try target.write { writer in
            if base != .genesis { try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.logBaseHash, value: base.bytes) }
        }
        guard let tail, tail <= last else {
            try target.sync()
            return target
        }
        var next = tail
        let chunk: UInt64 = 20_000
        while next <= last {
            let end = min(last, next + chunk - 1)
            let entries = try source.logEntries(after: next - 1, limit: Int(end - next + 1))
            try target.copyLogged(entries)
            next = end + 1
            progress?(StoreProgress(phase: "copying the log", done: end - tail + 1, total: last - tail + 1))
        }
        try target.foldCopiedLog(progress: progress)
        try target.sync()
        return target
    }

    /// ``rebuild(from:into:upTo:snapshot:logger:progress:)`` into a temporary sibling of `directory`,
    /// renamed into place only when complete (and the rename made durable), so `directory` is either
    /// absent or a whole store. `inspect` reads the new store before it is closed and moved; its
    /// answer is returned. The one implementation for the store and `longrun-replay rebuild`.
    @discardableResult
    public static func rebuildAtomically<R>(from source: Store, into directory: String, upTo: UInt64? = nil, snapshot: SnapshotFile.Info? = nil,
                                            logger: Logger, progress: StoreProgressHandler? = nil,
                                            inspect: (Store) throws -> R = { _ in () }) throws -> R {
        var info = stat()
        guard stat(directory, &info) != 0 else {
            throw StoreError(.foreignDirectory, "\(directory) exists; rebuild writes a new directory and never overwrites one")
        }
        let temporary = directory + ".rebuilding-\(getpid())"
        removeTree(temporary)  // a leftover of this pid's earlier, interrupted run
        let result: R
        do {
            // The store is closed when this closure returns: it must be before the rename.
            result = try {
                let target = try rebuild(from: source, into: temporary, upTo: upTo, snapshot: snapshot, logger: logger, progress: progress)
                try target.sync()
                return try inspect(target)
            }()
        } catch {
            removeTree(temporary)
            throw error
        }
        guard rename(temporary, directory) == 0 else {
            let message = String(cString: strerror(errno))
            removeTree(temporary)
            throw StoreError(.storage, "cannot move the rebuilt store into \(directory): \(message)")
        }
        syncDirectory(parentDirectory(of: directory))
        return result
    }
}

/// The directory that holds `path` (`.` for a bare name; trailing slashes ignored).
package func parentDirectory(of path: String) -> String {
    var trimmed = path
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
}

/// fsyncs a directory, so that a rename or a creation in it survives a crash. The one
/// implementation for snapshots, rebuilds and the replay tool.
package func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

/// Removes `path` and everything under it; symbolic links are removed, never followed. The one
/// implementation for the store, the replay tool and the tests.
package func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    guard info.st_mode & S_IFMT == S_IFDIR, let directory = opendir(path) else {
        unlink(path)
        return
    }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name == "." || name == ".." { continue }
        removeTree(path + "/" + name)
    }
    closedir(directory)
    rmdir(path)
}

extension Store {
    /// Whether the log agrees with a differential's base: its chain hash at the base's sequence is
    /// the base's, or the log no longer holds that event (compacted: only the differential needs it).
    func logAgrees(with base: SnapshotFile.Header) throws -> Bool {
        try read { try $0.chainHash(at: base.sequence) }.map { $0 == base.chainHash } ?? true
    }

    /// The newest valid restore point at or before `sequence` that a rebuild can start from: a full
    /// snapshot, or a differential whose base is present, intact and the one it names
    /// (``SnapshotFile/verifyRestorePoint(_:contents:baseContents:)``), whose chain hash matches
    /// the log's hash at its sequence (the stored entry, or the log's base hash when it is exactly
    /// where the log was compacted). A snapshot older than the compacted part cannot be used: the
    /// events after it are gone. A differential's base may be: only the differential needs the log.
    /// Where the log still holds the base's event, the base's chain hash must match it too.
    ///
    /// A snapshot folded by other rules (``SnapshotFile/Header/foldRevision``) is used only when
    /// the log was compacted, and so cannot be folded from its start: then it is the one base there
    /// is, and every rebuild and check starts from it alike.
    ///
    /// `checkContents: false` reads only the headers (for choosing where to start checking the log
    /// at open); loading a restore point always verifies its contents first.
    public func usableSnapshot(upTo sequence: UInt64, checkContents: Bool = true) throws -> SnapshotFile.Info? {
        let tail = try read { try $0.logTail() }
        for snapshot in try SnapshotFile.list(in: snapshotDirectory) where snapshot.sequence <= sequence && snapshot.sequence > 0 {
            // Before the compacted part (by its name, so without reading it): the events after it are gone.
            if let tail, snapshot.sequence + 1 < tail { continue }
            guard let (header, base) = try? SnapshotFile.verifyRestorePoint(snapshot, contents: checkContents, baseContents: checkContents),
                  header.sequence == snapshot.sequence
            else { continue }
            if header.foldRevision != Lifecycle.foldRevision && (tail ?? 1) <= 1 { continue }
            if let base, try !logAgrees(with: base) { continue }
            if try read({ try $0.chainHash(at: header.sequence) }) == header.chainHash { return snapshot }
        }
        return nil
    }
}

extension Store {
    /// Up to `limit` raw log entries after `sequence`, in order, as stored (`CRC-32C · chain hash ·
    /// record`): what a copy to another backend carries byte for byte.
    public func logEntries(after sequence: UInt64, limit: Int) throws -> [(sequence: UInt64, entry: [UInt8])] {
        try read { reader in
            try reader.txn.withCursor(reader.schema.log) { cursor in
                var entries: [(sequence: UInt64, entry: [UInt8])] = []
                var entry = try cursor.seek(atLeast: Keys.sequence(sequence &+ 1))
                while let (key, value) = entry, let sequence = Keys.decodeSequence(key), entries.count < limit {
                    entries.append((sequence, Array(value)))
                    entry = try cursor.next()
                }
                return entries
            }
        }
    }

    /// Appends entries copied from another store's log in one transaction, each checked against
    /// the chain (a copy from another backend, or a rebuild, into a new store). Their events are
    /// folded into the views by ``foldCopiedLog(progress:)`` once the copy is done (or at the next
    /// open, if it is interrupted).
    public func copyLogged(_ entries: [(sequence: UInt64, entry: [UInt8])]) throws {
        guard let first = entries.first?.sequence, let last = entries.last?.sequence else { return }
        try write { writer in
            for (sequence, entry) in entries { try writer.copyLogged(sequence: sequence, entry: entry) }
            // A loaded snapshot holds no history (it is the log's index): the entries it covers
            // bring theirs.
            try writer.putHistory(from: first, through: min(last, writer.applied))
        }
    }

    /// Folds the events copied by ``copyLogged(_:)`` into the views: replay, as at open.
    public func foldCopiedLog(progress: StoreProgressHandler? = nil) throws {
        try replayTail(chunk: replayChunk, progress: progress)
    }
}
