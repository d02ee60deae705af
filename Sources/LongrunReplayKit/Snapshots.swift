import LongrunCLIKit
public import LongrunDomain
public import LongrunStore

/// What `snapshot list` and `snapshot verify` found about one snapshot file.
public struct SnapshotStatus: Sendable {
    public var path: String
    /// The sequence its name gives (and, when intact, its header).
    public var sequence: UInt64
    public var sizeBytes: UInt64
    /// For a differential, the sequence of the full snapshot it is restored with; nil for a full one.
    public var baseSequence: UInt64?
    /// Its header, when the file is intact.
    public var header: SnapshotFile.Header?
    /// Whether its chain hash matches the log's at its sequence: nil when that was not checked
    /// (no store, a file outside the store's snapshot directory, or the log before it compacted).
    public var anchored: Bool?
    /// Why it cannot be used, if it cannot (for a differential, also a base missing, damaged or not
    /// the one it names).
    public var problem: String?

    public var isIntact: Bool { header != nil }
    public var isGood: Bool { problem == nil }

    /// `verified`, `verified (file only)` (not compared with a log), `DAMAGED` or `UNUSABLE`.
    public var status: String {
        if problem != nil { return header == nil ? "DAMAGED" : "UNUSABLE" }
        return anchored == true ? "verified" : "verified (file only)"
    }

    public var json: String {
        JSONValue.object([
            ("path", .string(path)),
            ("sequence", .unsigned(sequence)),
            ("sizeBytes", .unsigned(sizeBytes)),
            ("base", .optional(baseSequence)),
            ("created", .time(header.map { Timestamp(nanosecondsSinceEpoch: $0.createdUnixNanos) })),
            ("records", .optional(header?.records)),
            ("chainHash", .optional(header?.chainHash.description)),
            ("intact", .bool(isIntact)),
            ("anchored", anchored.map { .bool($0) } ?? .null),
            ("good", .bool(isGood)),
            ("problem", .optional(problem)),
        ]).text
    }
}

/// `snapshot list|verify|take`; `snapshot restore` is ``Rebuild/run(source:into:snapshot:until:logger:progress:)``.
public enum Snapshots {
    /// Checks one snapshot: the file (structure and SHA-256), for a differential its base (present,
    /// intact, the one it names), and against `store` when given: not ahead of its log, and (for
    /// files in its snapshot directory) tied to its log by chain hash.
    public static func check(_ info: SnapshotFile.Info, store: Store?) -> SnapshotStatus {
        var status = SnapshotStatus(path: info.path, sequence: info.sequence, sizeBytes: info.sizeBytes, baseSequence: info.baseSequence)
        do {
            status.header = try SnapshotFile.verify(info.path)
        } catch {
            status.problem = ReplaySource.errorLine(error)
            return status
        }
        guard let header = status.header else { return status }
        guard header.sequence == info.sequence else {
            status.problem = "it holds the state at event \(header.sequence) but is named for event \(info.sequence)"
            return status
        }
        do { _ = try SnapshotFile.verifyRestorePoint(info, contents: false, baseContents: true) } catch {
            status.problem = ReplaySource.errorLine(error)
            return status
        }
        guard let store else { return status }
        do {
            let (tail, head) = try store.read { reader in (try reader.logTail(), try reader.logHead()) }
            if header.sequence > head {
                status.problem = "it is at event \(header.sequence), ahead of the log's last event \(head): it belongs to another history"
                return status
            }
            let inStore = FileSystem.canonical(FileSystem.parent(of: info.path)) == FileSystem.canonical(store.snapshotDirectory)
            guard inStore, header.sequence > 0, header.sequence + 1 >= (tail ?? 1) else { return status }
            let anchored = try store.usableSnapshot(upTo: header.sequence)?.sequence == header.sequence
            status.anchored = anchored
            if !anchored {
                status.problem = "its chain hash differs from that of event \(header.sequence) in the log: it belongs to another history"
            }
        } catch {
            status.problem = "cannot be checked against the log: \(ReplaySource.errorLine(error))"
        }
        return status
    }

    /// Every snapshot in `store`'s snapshot directory, newest first, checked.
    public static func list(store: Store) throws -> [SnapshotStatus] {
        try SnapshotFile.list(in: store.snapshotDirectory).map { check($0, store: store) }
    }

    /// The snapshot at `path` (any directory), checked against `store` when given.
    public static func check(path: String, store: Store?) throws -> SnapshotStatus {
        guard FileSystem.exists(path) else { throw ReplayError("snapshot \(path) does not exist") }
        let canonical = FileSystem.canonical(path)
        guard let info = try SnapshotFile.list(in: FileSystem.parent(of: canonical)).first(where: { FileSystem.canonical($0.path) == canonical }) else {
            throw ReplayError("\(path) is not named like a snapshot (snapshot-<sequence>.lrsnap)")
        }
        return check(info, store: store)
    }

    /// The `snapshot list` table: SEQ SIZE CREATED RECORDS STATUS PATH (a differential's path
    /// names its base: `snapshot-<seq>-on-<base>.lrsnap`, and RECORDS counts its entries).
    public static func table(_ statuses: [SnapshotStatus]) -> String {
        guard !statuses.isEmpty else { return "no snapshots" }
        var rows: [[String]] = []
        for status in statuses {
            rows.append([
                String(status.sequence), byteCount(status.sizeBytes),
                status.header.map { format(Timestamp(nanosecondsSinceEpoch: $0.createdUnixNanos)) } ?? "-",
                status.header.map { String($0.records) } ?? "-",
                status.status,
                status.path,
            ])
        }
        var text = HumanOutput.table(header: ["SEQ", "SIZE", "CREATED", "RECORDS", "STATUS", "PATH"], rows: rows)
        for status in statuses where status.problem != nil { text += "\n\(status.path): \(status.problem!)" }
        return text
    }

    /// The `snapshot verify` lines: `ok PATH (...)` or `DAMAGED PATH: why`.
    public static func verifyLines(_ statuses: [SnapshotStatus]) -> [String] {
        statuses.map { status in
            if let problem = status.problem {
                return "\(status.status) \(status.path): \(problem)"
            }
            let header = status.header!
            let anchoring = status.anchored == true ? ", chain hash matches the log" : (status.anchored == nil ? ", not compared with a log" : "")
            let base = status.baseSequence.map { ", differential on the snapshot at event \($0)" } ?? ""
            return "ok \(status.path) (event \(header.sequence), \(header.records) records\(base)\(anchoring))"
        }
    }

    /// A snapshot `snapshot take` wrote, or found already there.
    public struct Taken: Sendable {
        public var info: SnapshotFile.Info
        public var header: SnapshotFile.Header
        /// False when a snapshot at that sequence already existed and was kept.
        public var written: Bool
        /// Older snapshots removed to keep `keep`.
        public var removed: [String]

        public var human: String {
            let what = written ? "wrote" : "a snapshot at this sequence already exists:"
            let base = info.baseSequence.map { ", differential on the snapshot at event \($0)" } ?? ""
            var text = "\(what) \(info.path) (state at event \(header.sequence), \(header.records) records\(base), \(byteCount(info.sizeBytes)))"
            for path in removed { text += "\nremoved \(path)" }
            return text
        }

        public var json: String {
            JSONValue.object([
                ("path", .string(info.path)), ("sequence", .unsigned(header.sequence)), ("sizeBytes", .unsigned(info.sizeBytes)),
                ("records", .unsigned(header.records)), ("chainHash", .string(header.chainHash.description)),
                ("base", .optional(info.baseSequence)),
                ("written", .bool(written)), ("removed", .array(removed.map { .string($0) })),
            ]).text
        }
    }

    /// Writes a snapshot of `store`'s views as of its last commit into its snapshot directory,
    /// keeping the newest `keep` restore points (and the bases they need). `.automatic` (as the
    /// daemon): a differential on the newest full snapshot when fewer than half the records changed
    /// since it. Works on a read-only store, beside a daemon.
    public static func take(store: Store, keep: Int, kind: SnapshotFile.Kind = .automatic, now: Timestamp = SystemWallClock().now()) throws -> Taken {
        guard keep >= 1 else { throw ReplayError("--keep must be at least 1") }
        let applied = try store.read { try $0.appliedSequence() }
        guard applied > 0 else { throw ReplayError("\(store.directory) has no events yet: there is nothing to snapshot") }
        let before = try SnapshotFile.list(in: store.snapshotDirectory)
        let info = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: keep, createdUnixNanos: now.nanosecondsSinceEpoch, kind: kind)
        let header = try SnapshotFile.verify(info.path)
        let after = Set(try SnapshotFile.list(in: store.snapshotDirectory).map(\.path))
        return Taken(info: info, header: header, written: !before.contains { $0.path == info.path },
                     removed: before.map(\.path).filter { !after.contains($0) })
    }
}

/// `512 B`, `12.3 KiB`, `4.0 MiB`.
func byteCount(_ bytes: UInt64) -> String {
    guard bytes >= 1024 else { return "\(bytes) B" }
    var value = Double(bytes) / 1024
    for unit in ["KiB", "MiB", "GiB"] {
        if value < 1024 { return "\((value * 10).rounded() / 10) \(unit)" }
        value /= 1024
    }
    return "\((value * 10).rounded() / 10) TiB"
}
