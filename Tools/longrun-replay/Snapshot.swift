import ArgumentParser
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunPostgres
import LongrunReplayKit
import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, verify, take and restore snapshots (the views at one event, in DATA_DIR/snapshots).",
        subcommands: [List.self, VerifySnapshots.self, Take.self, Restore.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the snapshots: sequence, size, creation time, records, whether verified, path."
        )

        @OptionGroup var options: CommonOptions

        func run() throws {
            try execute { _ in
                let store = try options.openStore()
                let statuses = try Snapshots.list(store: store)
                if options.json {
                    for status in statuses { Output.line(status.json) }
                } else {
                    Output.line(Snapshots.table(statuses))
                }
                return ReplayExitCode.success
            }
        }
    }

    struct VerifySnapshots: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check snapshot files: structure, SHA-256, and that they belong to the log's history.",
            discussion: """
                Checks PATH, or every snapshot of the data directory. A snapshot of the data directory \
                is also checked against the log (not ahead of it, chain hash equal to the log's at its \
                event); a file elsewhere is checked against the log when the data directory opens, \
                else alone. A differential (snapshot-SEQ-on-BASE.lrsnap) is usable only with its base, \
                the full snapshot BASE beside it, intact and the one it names. Exit codes: 0 all good; 2 one is damaged or unusable; 1 the check could not run.
                """
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: ArgumentHelp("A snapshot file (default: every snapshot of the data directory).", valueName: "path"))
        var path: String?

        func run() throws {
            try execute { _ in
                let statuses: [SnapshotStatus]
                if let path {
                    let store = try? options.openStore()
                    statuses = [try Snapshots.check(path: path, store: store)]
                } else {
                    statuses = try Snapshots.list(store: try options.openStore())
                    if statuses.isEmpty { Output.note("longrun-replay: note: \(options.directory) has no snapshots") }
                }
                if options.json {
                    for status in statuses { Output.line(status.json) }
                } else {
                    for line in Snapshots.verifyLines(statuses) { Output.line(line) }
                }
                return statuses.allSatisfy(\.isGood) ? ReplayExitCode.success : ReplayExitCode.problemsFound
            }
        }
    }

    struct Take: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a snapshot of the views as of the last commit into the data directory's snapshots/.",
            discussion: """
                Works while longrund serves the directory. As longrund does, writes a differential snapshot (the records of the \
                operations changed since the newest full snapshot, restored with it) when fewer than half the records changed \
                since that one, else a full one; --full always writes a full one. Keeps the newest --keep snapshots (and the full \
                ones the kept differentials need) and removes older ones.
                """
        )

        @OptionGroup var options: CommonOptions

        @Option(help: ArgumentHelp("How many snapshots to keep (restore points: a differential's base is kept with it).", valueName: "k"))
        var keep = 3

        @Flag(help: "Write a full snapshot, never a differential (one that builds before differentials can restore from).")
        var full = false

        func validate() throws {
            if keep < 1 { throw ValidationError("--keep must be at least 1") }
        }

        func run() throws {
            try execute { _ in
                let taken = try Snapshots.take(store: try options.openStore(), keep: keep, kind: full ? .full : .automatic)
                Output.line(options.json ? taken.json : taken.human)
                return ReplayExitCode.success
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a new data directory from a snapshot and the log after it.",
            discussion: "Like `rebuild --from-snapshot PATH`: NEW_DIR must not exist and is written atomically."
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: ArgumentHelp("The snapshot file.", valueName: "path"))
        var path: String

        @Option(help: ArgumentHelp("The new data directory to create.", valueName: "new-dir"))
        var to: String

        @Option(help: ArgumentHelp("Keep only the events up to this sequence.", valueName: "seq"))
        var until: UInt64?

        func run() throws {
            try execute { bar in
                let store = try options.openStore()
                let result = try LongrunReplayKit.Rebuild.run(source: store, into: to, snapshot: .file(path), until: until, logger: logger, progress: { bar.update($0) })
                bar.finish()
                Output.line(options.json ? result.json : result.human)
                return ReplayExitCode.success
            }
        }
    }
}
