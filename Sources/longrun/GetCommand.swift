import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show an operation with its details.",
        discussion: """
            Shows the operation (done, metadata, result) and its details: version, created, \
            updated and ended times, creator, request id, cancellation policy, and whether \
            cancellation was requested (with its reason, and the deadline by which the engine \
            cancels it if its producer has not stopped), whether it is held (kept from expiring, \
            with the reason), and its lease while it runs under one (TTL, expiry, holder). --json prints the \
            longrun.v1.OperationDetails message, the operation in its `operation` field.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name, e.g. operations/build-42.")
    var name: String

    func run() async throws {
        try await global.run { client in
            let details = try await client.details(name)
            Output.line(global.json ? JSONOutput.line(details) : HumanOutput.detailsBlock(details))
            return ExitCodes.success
        }
    }
}
