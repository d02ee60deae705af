import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct CollectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collections",
        abstract: "List the collections that hold live operations.",
        discussion: """
            Prints one collection name per line (`operations` for the root, \
            `tenants/acme/operations`), in the order of their parents; --json prints one \
            {"name": ...} object per line. PATTERN restricts them: `tenants/-` for every \
            tenants/{id}/operations (default: every collection). Names only: a count per \
            collection would read all its operations. On an --owner-only daemon only admins may.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Which collections (default: all), e.g. tenants/-.")
    var pattern = ""

    func run() async throws {
        let json = global.json
        try await global.run { client in
            var token = ""
            var any = false
            repeat {
                let page = try await client.listCollections(matching: pattern, pageSize: 1000, pageToken: token)
                for name in page.collections {
                    Output.line(json ? "{\"name\":\(JSONOutput.quote(name))}" : name)
                    any = true
                }
                token = page.nextPageToken
            } while !token.isEmpty
            if !json, !any { Output.note("no collections") }
            return ExitCodes.success
        }
    }
}
