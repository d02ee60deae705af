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
