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
