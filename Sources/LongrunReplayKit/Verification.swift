public import Logging
public import LongrunStore

/// `verify`: the whole log's hash chain and continuity, the applied sequence, the views against
/// views rebuilt from the log, and the snapshots.
public struct Verification: Sendable {
    public var dataDirectory: String
    public var report: VerifyReport
    /// Remarks that are not problems (e.g. a daemon committed during the check).
    public var notes: [String] = []

    public init(dataDirectory: String, report: VerifyReport, notes: [String] = []) {
        self.dataDirectory = dataDirectory
        self.report = report
        self.notes = notes
    }

    public var isHealthy: Bool { report.isHealthy }
    public var exitCode: Int32 { report.isHealthy ? ReplayExitCode.success : ReplayExitCode.problemsFound }

    /// The log problem, if the log is damaged (its first bad event).
    public var logProblem: VerifyProblem? {
        report.problems.first { $0.sequence != nil && Self.isLogProblem($0.kind) }
    }

    /// Runs ``Store/verify(scratchDirectory:logger:progress:)`` with a scratch store in a fresh
    /// directory under `scratchParent` (default `$TMPDIR`), removed afterwards.
    public static func run(store: Store, scratchParent: String? = nil, logger: Logger,
                           progress: StoreProgressHandler? = nil) throws -> Verification {
        let scratch = try ScratchDirectory(in: scratchParent)
        defer { scratch.remove() }
        let report = try store.verify(scratchDirectory: scratch.path + "/views", logger: logger, progress: progress)
        var notes: [String] = []
        // A daemon committing during the check: the chain was walked to the head it saw first, and
        // the views compared (with a rebuild that checked the chain that far) at a later sequence.
        if report.appliedSequence > report.headSequence {
            notes.append("longrund committed events during the check: the chain was walked to event \(report.headSequence) and the views compared at event \(report.appliedSequence) (the rebuild checked the chain up to there)")
        }
        return Verification(dataDirectory: store.directory, report: report, notes: notes)
    }

    /// The code a problem is printed with: `DATA_LOSS` for the log, else what is wrong.
    public static func code(_ problem: VerifyProblem, appliedSequence: UInt64, headSequence: UInt64) -> String {
        switch problem.kind {
        case .gap, .undecodable, .sequenceMismatch, .brokenChain, .checksumMismatch: "DATA_LOSS"
        case .appliedMismatch: appliedSequence > headSequence ? "DATA_LOSS" : "VIEWS_BEHIND"
        case .viewsDiffer: "VIEWS_DIFFER"
        case .snapshotAhead: "SNAPSHOT_AHEAD"
        case .snapshotCorrupt: "SNAPSHOT_DAMAGED"
        }
    }

    static func isLogProblem(_ kind: VerifyProblem.Kind) -> Bool {
        [.gap, .undecodable, .sequenceMismatch, .brokenChain, .checksumMismatch].contains(kind)
    }

    private func code(_ problem: VerifyProblem) -> String {
        Self.code(problem, appliedSequence: report.appliedSequence, headSequence: report.headSequence)
    }

    /// What to do about the problems found, one line each.
    public var nextSteps: [String] {
        var steps: [String] = []
        let kinds = Set(report.problems.map(\.kind))
        if dataDirectory.hasPrefix("postgres://") {
            // A PostgreSQL store: a copy refolds the views from the log; backups are the database's.
            if let bad = logProblem?.sequence {
                if bad > 1 {
                    steps.append("the log is intact up to event \(bad - 1); copy that part into a new store with: longrun-replay copy --from '\(dataDirectory)' --to NEW --until \(bad - 1)")
                }
                steps.append("or restore the database from a backup (point-in-time recovery)")
            } else if !report.problems.isEmpty {
                steps.append("the log is intact; a copy folds the views anew from it: longrun-replay copy --from '\(dataDirectory)' --to NEW (a new directory, or an empty schema with ?schema=NAME), then serve NEW")
            }
            return steps
        }
        if let bad = logProblem?.sequence {
            if bad > 1 {
                steps.append("the log is intact up to event \(bad - 1); build a store from that part with: longrun-replay rebuild --data-dir \(dataDirectory) --to NEW_DIR --until \(bad - 1)")
            }
            steps.append("or restore \(dataDirectory) from a backup")
        }
        if kinds.contains(.viewsDiffer) || kinds.contains(.appliedMismatch) && logProblem == nil {
            steps.append("the log is intact; build a store with views folded from it with: longrun-replay rebuild --data-dir \(dataDirectory) --to NEW_DIR, then start longrund on NEW_DIR")
        }
        if kinds.contains(.snapshotCorrupt) || kinds.contains(.snapshotAhead) {
            steps.append("delete the named snapshot files (the log, or another snapshot, replaces them); take a new one with: longrun-replay snapshot take --data-dir \(dataDirectory)")
        }
        return steps
    }

    /// The human report.
    public var human: String {
        var lines: [(String, String)] = [(dataDirectory.hasPrefix("postgres://") ? "store" : "data directory", dataDirectory)]
        let range = report.firstSequence.map { first in report.events == 0 ? "" : " (events \(first) to \(first + report.events - 1))" } ?? ""
        lines.append(("events checked", "\(report.events)\(range)"))
        lines.append(("head sequence", String(report.headSequence)))
        if let bad = logProblem?.sequence {
            lines.append(("head hash", "not computed: the chain breaks at event \(bad)"))
        } else {
            lines.append(("head hash", report.headHash.description))
        }
        lines.append(("applied sequence", String(report.appliedSequence)))
        lines.append(("views digest", report.viewsDigest))
        lines.append(("rebuilt digest", report.rebuiltDigest.isEmpty ? "not computed: the log is damaged" : report.rebuiltDigest))
        lines.append(("snapshots checked", logProblem == nil ? String(report.snapshotsChecked) : "not checked: the log is damaged"))
        var text = aligned(lines)
        for note in notes { text += "\nnote: " + note }
        if report.isHealthy {
            text += "\nOK: the hash chain holds, the views equal views rebuilt from the log"
            if report.snapshotsChecked > 0 { text += " and the snapshots are intact" }
        } else {
            for problem in report.problems { text += "\n\(code(problem)): \(problem.message)" }
            for step in nextSteps { text += "\nnext: " + step }
        }
        return text
    }

    /// The report as one JSON object.
    public var json: String {
        let hashKnown = logProblem == nil
        return JSONValue.object([
            ("dataDir", .string(dataDirectory)),
            ("healthy", .bool(report.isHealthy)),
            ("firstSequence", .optional(report.firstSequence)),
            ("headSequence", .unsigned(report.headSequence)),
            ("eventsChecked", .unsigned(report.events)),
            ("headHash", hashKnown ? .string(report.headHash.description) : .null),
            ("appliedSequence", .unsigned(report.appliedSequence)),
            ("viewsDigest", .string(report.viewsDigest)),
            ("rebuiltDigest", report.rebuiltDigest.isEmpty ? .null : .string(report.rebuiltDigest)),
            ("snapshotsChecked", .unsigned(UInt64(report.snapshotsChecked))),
            ("firstBadSequence", .optional(report.firstBadSequence)),
            ("problems", .array(report.problems.map { problem in
                .object([
                    ("code", .string(code(problem))),
                    ("kind", .string(problem.kind.rawValue)),
                    ("sequence", .optional(problem.sequence)),
                    ("message", .string(problem.message)),
                ])
            })),
            ("notes", .array(notes.map { .string($0) })),
            ("nextSteps", .array(nextSteps.map { .string($0) })),
        ]).text
    }
}
