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
        try await executeAsync { _ in
            try await source.withSource(options) { store in
                if options.json {
                    try await EventDump.historyJSON(store: store, name: name) { Output.line($0) }
                } else {
                    Output.line(try await EventDump.historyTable(store: store, name: name))
                }
                return ReplayExitCode.success
            }
        }
    }
}
