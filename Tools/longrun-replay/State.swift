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
            let result: StateAt
            if source.store != nil, let name = query.name {
                // One operation's events, read in place: no copy of the log.
                result = try await source.withSource(options) { store in try await StateAt.operation(name, in: store, at: query.at) }
            } else {
                result = try await source.withStore(options, bar: bar) { store in
                    try await StateAt.run(store: store, query: query, scratchParent: scratch, logger: logger, progress: { bar.update($0) })
                }
            }
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
