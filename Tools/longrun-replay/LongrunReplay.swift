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

@main
struct LongrunReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrun-replay",
        abstract: "Verify, rebuild and inspect a Longrun data directory from its event log, offline; copy a store between LMDB and PostgreSQL.",
        discussion: """
            Reads the data directory read-only, so it can run while longrund serves it; only \
            `snapshot take` writes, into the directory's snapshots/ folder, and `repair`, which \
            needs longrund stopped. Rebuilds write new directories and never overwrite one.

            Exit codes: 0 success; 1 the command failed (one line on stderr says why and what to do); \
            2 `verify`, `snapshot verify` or `repair` found a problem (that remains); 64 usage error.
            """,
        version: LongrunVersion.current,
        subcommands: [Verify.self, Repair.self, Rebuild.self, Copy.self, Dump.self, History.self, State.self, Snapshot.self]
    )
}

// MARK: Shared options and plumbing

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "The data directory to read.",
        discussion: "Default: $LONGRUN_DATA_DIR, else \(DefaultPaths.current.dataDirectory) (where longrund keeps it).",
        valueName: "dir"
    ))
    var dataDir: String?

    @Flag(help: "Print JSON (one object, or one per line for lists of events and operations).")
    var json = false

    var directory: String { dataDir ?? DefaultPaths.current.dataDirectory }

    func openStore() throws -> Store {
        try ReplaySource.open(directory, logger: logger)
    }
}

/// For the commands that read a store's events (dump, history, state): a PostgreSQL store instead.
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A PostgreSQL store to read instead of a data directory: its log is first copied, checked against the chain, into a scratch directory (removed afterwards).",
        valueName: "url"
    ))
    var store: String?

    /// Runs `body` on the data directory of `options`, or on a scratch copy of the PostgreSQL store.
    func withStore<R>(_ options: CommonOptions, bar: ProgressBar, _ body: (Store) throws -> R) async throws -> R {
        guard let store else { return try body(options.openStore()) }
        guard options.dataDir == nil else { throw ValidationError("--store and --data-dir name two stores: give one") }
        let location = try PostgresLocation(parsing: store, environment: PostgresLocation.processEnvironment)
        let copy = try await ScratchCopy(of: location, logger: logger, progress: { bar.update($0) })
        defer { copy.remove() }
        bar.finish()
        return try body(copy.store)
    }
}

let logger = ReplaySource.makeLogger()

/// Runs a command: its result code, or one line on stderr and exit code 1 for an error.
func execute(_ body: (ProgressBar) throws -> Int32) throws {
    let bar = ProgressBar()
    try conclude(bar, Result { try body(bar) })
}

/// ``execute(_:)`` for async commands (the PostgreSQL ones).
func executeAsync(_ body: (ProgressBar) async throws -> Int32) async throws {
    let bar = ProgressBar()
    let result: Result<Int32, any Error>
    do { result = .success(try await body(bar)) } catch { result = .failure(error) }
    try conclude(bar, result)
}

/// Ends a command's progress bar and output, and turns its result into the exit code.
private func conclude(_ bar: ProgressBar, _ result: Result<Int32, any Error>) throws {
    bar.finish()
    Output.flush()
    switch result {
    case .success(let code):
        if code != ReplayExitCode.success { throw ExitCode(code) }
    case .failure(let exit as ExitCode):
        throw exit
    case .failure(let error):
        Output.error(ReplaySource.errorLine(error))
        throw ExitCode(ReplayExitCode.failure)
    }
}

func parseTime(_ text: String?, option: String) throws -> Timestamp? {
    guard let text else { return nil }
    guard let time = LongrunDomain.RFC3339.parse(text) else {
        throw ValidationError("\(option) '\(text)' is not an RFC 3339 time, e.g. 2027-01-15T08:00:00Z")
    }
    return time
}

func parseName(_ text: String) throws -> OperationName {
    do { return try OperationName(parsing: text) } catch { throw ValidationError(error.message) }
}

/// Standard output through a buffer, written with write(2): a dump of millions of lines is not a
/// syscall per line. A closed pipe (`dump | head`) ends the process with 141, like SIGPIPE.
enum Output {
    private final class Buffer: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    private static let buffer = Buffer()

    static func line(_ text: String) {
        buffer.bytes.append(contentsOf: text.utf8)
        buffer.bytes.append(0x0A)
        if buffer.bytes.count >= 1 << 16 { flush() }
    }

    static func flush() {
        var offset = 0
        while offset < buffer.bytes.count {
            let written = buffer.bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                exit(errno == EPIPE ? 141 : ReplayExitCode.failure)
            }
            offset += written
        }
        buffer.bytes.removeAll(keepingCapacity: true)
    }

    static func error(_ text: String) {
        note("longrun-replay: " + text)
    }

    static func note(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}

// MARK: repair

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scrub a stopped store and rebuild from its log every view found damaged.",
        discussion: """
            Checks everything a background scrub checks (the log's chain and checksums, every view \
            record's checksum, every operation against the fold of its events, every index and \
            history entry, the snapshots), then rebuilds each damaged operation's record, index \
            entries and history entries from its events and records a `repaired` event on it. \
            Damaged log events cannot be rebuilt from anything: they are listed with what to do. \
            Needs longrund stopped (it takes the directory's lock); with longrund running, use \
            `longrun repair`.

            Exit codes: 0 nothing was damaged, or everything was repaired; 2 something remains \
            damaged; 1 the repair could not run.
            """
    )

    @OptionGroup var options: CommonOptions

    func run() throws {
        try execute { bar in
            let result = try LongrunReplayKit.Repair.run(directory: options.directory, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(options.json ? result.json : result.human)
            return result.exitCode
        }
    }
}

// MARK: verify

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the whole log's hash chain, the views against views rebuilt from it, and the snapshots.",
        discussion: """
            Walks the log checking that sequences are contiguous, every record decodes, and every chain \
            hash holds; checks that the views' applied sequence is the log's head; rebuilds the views from \
            the log in a scratch store (from the newest usable snapshot) and compares digests; checks \
            every snapshot. Prints events checked, head sequence and hash (record the hash elsewhere to \
            detect a rewritten history), applied sequence, digests, snapshots checked, then each problem: \
            `DATA_LOSS: event N ...` names the first bad event of a damaged log.

            With --store postgres://..., checks a PostgreSQL store instead: every entry's checksum and \
            the chain from event 1, the head row, and every operation's record, index columns and \
            request id against the fold of its events.

            Exit codes: 0 healthy; 2 a problem was found (DATA_LOSS, VIEWS_DIFFER, VIEWS_BEHIND, \
            SNAPSHOT_AHEAD, SNAPSHOT_DAMAGED); 1 the check could not run.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("A PostgreSQL store to check instead of a data directory (password: in the URL or $PGPASSWORD).", valueName: "url"))
    var store: String?

    @Option(help: ArgumentHelp(
        "Where to create the scratch store the views are rebuilt in (removed afterwards). Default: $TMPDIR, else /tmp.",
        valueName: "dir"
    ))
    var scratch: String?

    func validate() throws {
        if store != nil, options.dataDir != nil { throw ValidationError("--store and --data-dir name two stores: give one") }
    }

    func run() async throws {
        if let store {
            try await executeAsync { bar in
                let location = try PostgresLocation(parsing: store, environment: PostgresLocation.processEnvironment)
                var storeOptions = PostgresStore.Options()
                storeOptions.createIfAbsent = false
                let postgres = try await PostgresStore.open(location, options: storeOptions, logger: logger)
                defer { postgres.close() }
                let result = Verification(dataDirectory: postgres.location, report: try await postgres.verify(progress: { bar.update($0) }))
                bar.finish()
                Output.line(options.json ? result.json : result.human)
                return result.exitCode
            }
            return
        }
        try execute { bar in
            let store = try options.openStore()
            let result = try Verification.run(store: store, scratchParent: scratch, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(options.json ? result.json : result.human)
            return result.exitCode
        }
    }
}

// MARK: rebuild

struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a new data directory from the log: fresh views, the log copied and its chain checked.",
        discussion: """
            Writes NEW_DIR (which must not exist) through a temporary sibling renamed into place when \
            complete. The views start from the newest usable snapshot unless --from-snapshot or \
            --no-snapshot says otherwise. With --until SEQ only the events up to SEQ are kept: the way \
            to cut a log damaged at event SEQ+1 (as `verify` names it). Start longrund on the result \
            with `longrund --data-dir NEW_DIR`.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("The new data directory to create.", valueName: "new-dir"))
    var to: String

    @Option(name: .customLong("from-snapshot"), help: ArgumentHelp("Start the views from this snapshot file.", valueName: "path"))
    var fromSnapshot: String?

    @Flag(name: .customLong("no-snapshot"), help: "Fold the whole log, without a snapshot.")
    var noSnapshot = false

    @Option(help: ArgumentHelp("Keep only the events up to this sequence.", valueName: "seq"))
    var until: UInt64?

    func validate() throws {
        if fromSnapshot != nil && noSnapshot { throw ValidationError("--from-snapshot and --no-snapshot exclude each other") }
    }

    func run() throws {
        let choice: SnapshotChoice = noSnapshot ? .none : fromSnapshot.map { .file($0) } ?? .newestUsable
        try execute { bar in
            let store = try options.openStore()
            let result = try LongrunReplayKit.Rebuild.run(source: store, into: to, snapshot: choice, until: until, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(options.json ? result.json : result.human)
            return ReplayExitCode.success
        }
    }
}

// MARK: copy

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a store between backends: an LMDB data directory and a PostgreSQL store, either way.",
        discussion: """
            Copies the log event by event, byte for byte (sequences, times, actors, chain hashes), each \
            checked against the chain; folds the views anew at the destination; then verifies the \
            destination as `verify` does and compares its head hash with the source's. The \
            destination must be a new data directory or an empty PostgreSQL store (a new schema: \
            add ?schema=NAME). A compacted LMDB log is refused: the copy carries the whole history. \
            Copy from a store no daemon writes to, or the copy ends at the head it saw first.

            Exit codes: 0 copied and verified; 2 the copy does not verify; 1 the copy failed.
            """
    )

    @Option(help: ArgumentHelp("The store to copy: a data directory or postgres://user@host/db.", valueName: "store"))
    var from: String

    @Option(help: ArgumentHelp("Where to copy it: a new data directory or an empty postgres://user@host/db?schema=NAME.", valueName: "store"))
    var to: String

    @Option(help: ArgumentHelp("Copy only the events up to this sequence (e.g. the last intact one `verify` names).", valueName: "seq"))
    var until: UInt64?

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await executeAsync { bar in
            let environment = PostgresLocation.processEnvironment
            let source = try StoreCopy.Place(parsing: from, environment: environment)
            let destination = try StoreCopy.Place(parsing: to, environment: environment)
            let result = try await StoreCopy.run(from: source, to: destination, until: until, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(json ? result.json : result.human)
            return result.exitCode
        }
    }
}

// MARK: dump

struct Dump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events of the log as JSON lines (longrun.v1.OperationEvent), oldest first.",
        discussion: """
            Always JSON, one event per line, streamed in batches. The bounds are inclusive and combine: \
            --from/--to are sequences, --since/--until RFC 3339 times, --name one operation's events. \
            Prints the records as they are, without checking the hash chain: `verify` does that.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("First sequence.", valueName: "seq"))
    var from: UInt64?

    @Option(help: ArgumentHelp("Last sequence.", valueName: "seq"))
    var to: UInt64?

    @Option(help: ArgumentHelp("Only events at or after this time.", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Only events at or before this time.", valueName: "time"))
    var until: String?

    @Option(help: ArgumentHelp("Only the events of this operation (deleted ones included).", valueName: "name"))
    var name: String?

    func validate() throws {
        _ = try parseTime(since, option: "--since")
        _ = try parseTime(until, option: "--until")
        if let name { _ = try parseName(name) }
    }

    @OptionGroup var source: SourceOptions

    func run() async throws {
        let query = DumpQuery(fromSequence: from, toSequence: to, since: try parseTime(since, option: "--since"),
                              until: try parseTime(until, option: "--until"), name: try name.map(parseName))
        try await executeAsync { bar in
            try await source.withStore(options, bar: bar) { store in
                let summary = try EventDump.run(store: store, query: query) { Output.line($0) }
                Output.flush()
                for note in summary.notes { Output.note("longrun-replay: note: " + note) }
                return ReplayExitCode.success
            }
        }
    }
}

// MARK: history

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the audit trail of one operation, deleted ones included.",
        discussion: "A table SEQ TIME KIND ACTOR DETAIL, or with --json one longrun.v1.OperationEvent per line."
    )

    @OptionGroup var options: CommonOptions

    @Argument(help: ArgumentHelp("The operation's full name, e.g. operations/build-7.", valueName: "name"))
    var name: String

    func validate() throws { _ = try parseName(name) }

    @OptionGroup var source: SourceOptions

    func run() async throws {
        let name = try parseName(self.name)
        try await executeAsync { bar in
            try await source.withStore(options, bar: bar) { store in
                if options.json {
                    try EventDump.historyJSON(store: store, name: name) { Output.line($0) }
                } else {
                    Output.line(try EventDump.historyTable(store: store, name: name))
                }
                return ReplayExitCode.success
            }
        }
    }
}

// MARK: state

struct State: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the state as it was right after an event, computed by replaying the log.",
        discussion: """
            --at SEQ is right after event SEQ (0: before any event); --at TIME right after the last \
            event at or before that RFC 3339 time. With NAME, that operation (saying so if it was \
            deleted; exit 1 if it did not exist then); without, the operations of --collection \
            (default the root) matching --filter (AIP-160, as ListOperations), every page. With --json: \
            one object for NAME, else one operation per line.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("A sequence, or an RFC 3339 time.", valueName: "seq|time"))
    var at: String

    @Argument(help: ArgumentHelp("An operation's full name.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The collection to list: operations (default) or PARENT, e.g. tenants/acme.", valueName: "collection"))
    var collection: String?

    @Option(help: ArgumentHelp("An AIP-160 filter, e.g. 'done = false'.", valueName: "filter"))
    var filter: String?

    @Option(help: ArgumentHelp(
        "Where to create the scratch store the log is replayed into (removed afterwards). Default: $TMPDIR, else /tmp.",
        valueName: "dir"
    ))
    var scratch: String?

    func validate() throws {
        guard PointInTime(parsing: at) != nil else {
            throw ValidationError("--at '\(at)' is neither a sequence nor an RFC 3339 time (e.g. 2027-01-15T08:00:00Z)")
        }
        if let name {
            if collection != nil || filter != nil { throw ValidationError("NAME shows one operation; --collection and --filter are for listing") }
            _ = try parseName(name)
        }
        _ = try query()
    }

    func query() throws -> StateQuery {
        let parsedCollection: CollectionName
        do { parsedCollection = try CollectionName(listName: collection ?? "") } catch { throw ValidationError(error.message) }
        let parsedFilter: Filter
        do { parsedFilter = try Filter(parsing: filter ?? "") } catch { throw ValidationError("--filter: \(error.message)") }
        return StateQuery(at: PointInTime(parsing: at)!, name: try name.map(parseName), collection: parsedCollection, filter: parsedFilter)
    }

    @OptionGroup var source: SourceOptions

    func run() async throws {
        let query = try query()
        try await executeAsync { bar in
            try await source.withStore(options, bar: bar) { store in
                let result = try StateAt.run(store: store, query: query, scratchParent: scratch, logger: logger, progress: { bar.update($0) })
                bar.finish()
                if options.json {
                    for line in result.jsonLines { Output.line(line) }
                } else if case .absent = result.content {
                    Output.error(result.human)
                } else {
                    Output.line(result.human)
                }
                return result.exitCode
            }
        }
    }
}

// MARK: snapshot

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
                else alone. Exit codes: 0 all good; 2 one is damaged or unusable; 1 the check could not run.
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
            discussion: "Works while longrund serves the directory. Keeps the newest --keep snapshots and removes older ones."
        )

        @OptionGroup var options: CommonOptions

        @Option(help: ArgumentHelp("How many snapshots to keep.", valueName: "k"))
        var keep = 3

        func validate() throws {
            if keep < 1 { throw ValidationError("--keep must be at least 1") }
        }

        func run() throws {
            try execute { _ in
                let taken = try Snapshots.take(store: try options.openStore(), keep: keep)
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
