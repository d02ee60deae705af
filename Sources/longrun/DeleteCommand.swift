import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete an operation, or every operation a filter matches (they are not cancelled; their history stays readable).",
        discussion: """
            With --filter (or --every-operation), every matching operation of --collection that you may \
            change is deleted, each as its own request and event; it asks first unless --yes. Exit 1 if \
            any was refused.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String?

    @OptionGroup var bulk: BulkOptions

    func validate() throws { try bulk.validate(name: name) }

    func run() async throws {
        try await global.run { client in
            guard let name else {
                return try await bulk.run("delete", json: global.json, client: client) { try await client.deleteOperations($0) }
            }
            try await client.deleteOperation(name)
            Output.line(global.json ? "{\"name\":\(JSONOutput.quote(name)),\"deleted\":true}" : "deleted \(name)")
            return ExitCodes.success
        }
    }
}
