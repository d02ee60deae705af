public import Logging
public import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a rebuild's views start.
public enum SnapshotChoice: Sendable, Equatable {
    /// The newest snapshot of the source that is intact, tied to its log, and not after the end.
    case newestUsable
    /// No snapshot: fold the whole log.
    case none
    /// This snapshot file.
    case file(String)
}

/// `rebuild` and `snapshot restore`: a new data directory from the source's log (and a snapshot),
/// written to a temporary sibling and renamed into place when complete.
public struct Rebuild: Sendable {
    public var source: String
    public var target: String
    /// The snapshot the views started from, and its sequence.
    public var snapshotPath: String?
    public var snapshotSequence: UInt64?
    /// The events copied: the source's retained log up to ``lastSequence``.
    public var firstSequence: UInt64?
    public var lastSequence: UInt64
    /// The source's head when the rebuild started (more than ``lastSequence`` with `--until`).
    public var sourceHead: UInt64
    public var headHash: String
    public var viewsDigest: String
    public var liveOperations: Int
    public var warnings: [String] = []

    /// Rebuilds `source` into `target`, which must not exist. `until` stops after that event.
    public static func run(source: Store, into target: String, snapshot choice: SnapshotChoice = .newestUsable,
                           until: UInt64? = nil, logger: Logger, progress: StoreProgressHandler? = nil) throws -> Rebuild {
        var target = target
        while target.count > 1, target.hasSuffix("/") { target.removeLast() }
        guard !FileSystem.exists(target) else {
            throw ReplayError("\(target) exists; rebuild writes a new directory and never overwrites one: choose a path that does not exist")
        }
        guard !FileSystem.isInside(target, source.directory) else {
            throw ReplayError("\(target) is inside the data directory \(source.directory), which the tool never modifies; choose a path outside it")
        }
        let (tail, head) = try source.read { reader in (try reader.logTail(), try reader.logHead()) }
        if let until, until > head {
            throw ReplayError("--until \(until) is after the last event of the log (\(head)); omit --until to rebuild the whole log")
        }
        let last = until ?? head
        var warnings: [String] = []
        let snapshot: SnapshotFile.Info?
        switch choice {
        case .none:
            snapshot = nil
        case .newestUsable:
            snapshot = try source.usableSnapshot(upTo: last)
        case .file(let path):
            let resolved = try SnapshotLookup.resolve(path, source: source, target: target)
            guard resolved.info.sequence <= last else {
                throw ReplayError("snapshot \(path) is at event \(resolved.info.sequence), after the last event to rebuild (\(last)); choose an older snapshot or a later --until")
            }
            if let warning = resolved.warning { warnings.append(warning) }
            snapshot = resolved.info
        }

        let built: (hash: String, digest: String, live: Int, head: UInt64)
        do {
            built = try Store.rebuildAtomically(from: source, into: target, upTo: last, snapshot: snapshot, logger: logger, progress: progress) { store in
                let (hash, live, head) = try store.read { reader in (try reader.headHash().description, try reader.liveOperationCount(), try reader.logHead()) }
                return (hash, try store.viewsDigest(), live, head)
            }
        } catch {
            throw damagedLogError(error, source: source, target: target, until: last)
        }
        return Rebuild(
            source: source.directory, target: target, snapshotPath: snapshot?.path, snapshotSequence: snapshot?.sequence,
            firstSequence: tail.flatMap { $0 <= built.head ? $0 : nil }, lastSequence: built.head, sourceHead: head,
            headHash: built.hash, viewsDigest: built.digest, liveOperations: built.live, warnings: warnings
        )
    }

    /// For a rebuild that stopped at a damaged log: where the damage is and how to cut the log
    /// before it. Other errors are returned as they are.
    static func damagedLogError(_ error: any Error, source: Store, target: String, until last: UInt64) -> any Error {
        guard let storeError = error as? StoreError, storeError.kind == .dataLoss,
              let problem = try? source.verifyLog().problem, let bad = problem.sequence, bad <= last
        else { return error }
        let cut = bad > 1
            ? "build a store from the log before it with: longrun-replay rebuild --data-dir \(source.directory) --to \(target) --until \(bad - 1)"
            : "nothing before it is intact"
        return ReplayError("the log of \(source.directory) is damaged at event \(bad): \(problem.message); nothing was written. Restore it from a backup, or \(cut)")
    }

    public var human: String {
        var lines: [(String, String)] = [("rebuilt", target), ("from", source)]
        if let snapshotPath, let snapshotSequence {
            lines.append(("snapshot", "\(snapshotPath) (state at event \(snapshotSequence); the log after it was folded)"))
        } else {
            lines.append(("snapshot", "none (the whole log was folded)"))
        }
        if let firstSequence {
            lines.append(("events", "\(firstSequence) to \(lastSequence)" + (lastSequence < sourceHead ? " (the source has \(sourceHead - lastSequence) more after it, left out)" : "")))
        } else {
            lines.append(("events", "none"))
        }
        lines.append(("head hash", headHash))
        lines.append(("views digest", viewsDigest))
        lines.append(("operations", "\(liveOperations) live"))
        var text = aligned(lines)
        for warning in warnings { text += "\nwarning: " + warning }
        text += "\nnext: start the daemon on it with: longrund --data-dir \(target)"
        return text
    }

    public var json: String {
        JSONValue.object([
            ("target", .string(target)),
            ("source", .string(source)),
            ("snapshot", .optional(snapshotPath)),
            ("snapshotSequence", .optional(snapshotSequence)),
            ("firstSequence", .optional(firstSequence)),
            ("lastSequence", .unsigned(lastSequence)),
            ("sourceHead", .unsigned(sourceHead)),
            ("headHash", .string(headHash)),
            ("viewsDigest", .string(viewsDigest)),
            ("liveOperations", .unsigned(UInt64(liveOperations))),
            ("warnings", .array(warnings.map { .string($0) })),
            ("start", .string("longrund --data-dir \(target)")),
        ]).text
    }
}

/// Finding and checking a snapshot file named on the command line.
enum SnapshotLookup {
    struct Resolved {
        var info: SnapshotFile.Info
        var header: SnapshotFile.Header
        /// Set when the snapshot could not be checked against the source's log.
        var warning: String?
    }

    /// The snapshot at `path`: intact, named after its own sequence, and (when it is in the source's
    /// snapshot directory) tied to the source's log by its chain hash.
    static func resolve(_ path: String, source: Store, target: String) throws -> Resolved {
        guard FileSystem.exists(path) else { throw ReplayError("snapshot \(path) does not exist; list them with: longrun-replay snapshot list --data-dir \(source.directory)") }
        let canonical = FileSystem.canonical(path)
        guard let info = try SnapshotFile.list(in: FileSystem.parent(of: canonical)).first(where: { FileSystem.canonical($0.path) == canonical }) else {
            throw ReplayError("\(path) is not named like a snapshot (snapshot-<sequence>.lrsnap, or snapshot-<sequence>-on-<base>.lrsnap for a differential); rename it so, keeping its sequence")
        }
        // A differential: with its base, present, intact and the one it names.
        let header = try SnapshotFile.verifyRestorePoint(info).header
        guard header.sequence == info.sequence else {
            throw ReplayError("\(path) holds the state at event \(header.sequence) but is named for event \(info.sequence); rename it snapshot-\(header.sequence).lrsnap")
        }
        if FileSystem.canonical(FileSystem.parent(of: canonical)) == FileSystem.canonical(source.snapshotDirectory) {
            let tail = try source.read { try $0.logTail() } ?? 1
            if header.sequence + 1 >= tail, try source.usableSnapshot(upTo: header.sequence)?.sequence != header.sequence {
                throw ReplayError("snapshot \(path) does not belong to the history of \(source.directory): its chain hash differs from event \(header.sequence)'s (or the log has no such event); choose another snapshot or --no-snapshot")
            }
            return Resolved(info: info, header: header, warning: nil)
        }
        return Resolved(info: info, header: header, warning: "\(path) is outside \(source.snapshotDirectory), so it could not be checked against the log's chain hash at event \(header.sequence); check the result with: longrun-replay verify --data-dir \(target)")
    }
}
