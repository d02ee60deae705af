import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Request cancellation of an operation, or of every operation a filter matches.",
        discussion: """
            A cooperative operation keeps running until its producer stops (or its grace period \
            ends); an immediate one is cancelled at once. Prints the operation's state after the request. \
            With --filter (or --every-operation), every matching operation of --collection that you may \
            change is asked to cancel, each as its own request and event; it asks first unless --yes, and \
            prints how many matched, changed, were left as they were (already done) or were refused. \
            Exit 1 if any was refused.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String?

    @Option(help: "Why; recorded in the CancelRequested event.")
    var reason: String?

    @OptionGroup var bulk: BulkOptions

    func validate() throws { try bulk.validate(name: name) }

    func run() async throws {
        try await global.run { client in
            guard let name else {
                return try await bulk.run("cancel", json: global.json, client: client, reason: reason) { try await client.cancelOperations($0) }
            }
            try await client.cancelOperation(name, reason: reason)
            let operation = try? await client.getOperation(name)
            if global.json {
                if let operation { Output.line(JSONOutput.line(operation)) }
            } else if let operation, operation.done {
                Output.line("\(name): done, \(HumanOutput.resultSummary(operation))")
            } else {
                Output.line("\(name): cancellation requested")
            }
            return ExitCodes.success
        }
    }
}
