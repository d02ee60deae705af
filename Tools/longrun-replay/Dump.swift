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
        try await executeAsync { _ in
            try await source.withSource(options) { store in
                let summary = try await EventDump.run(store: store, query: query) { Output.line($0) }
                Output.flush()
                for note in summary.notes { Output.note("longrun-replay: note: " + note) }
                return ReplayExitCode.success
            }
        }
    }
}
