import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the operations in a collection.",
        discussion: """
            COLLECTION is "" or `operations` for the root collection, `tenants/acme` or \
            `tenants/acme/operations` for tenants/acme/operations/*; `tenants/-` for every \
            tenants/{id}/operations collection (AIP-159), `-` (or --all-collections) for every \
            collection; across collections, operations come in creation order. The table shows NAME, DONE, \
            RESULT (ok, ERROR <CODE>, cancelled, - while running) and UPDATED (the time of the \
            operation's last change, read with GetOperationDetails, 8 operations at a time; \
            - if it cannot be read). --json prints the operations as listed, without those reads. \
            With --all, rows are printed page by page as they arrive (the header once).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The collection (default: the root collection).")
    var collection = ""

    @Option(help: "An AIP-160 filter, e.g. 'done = false' or 'error.code = CANCELLED'.")
    var filter = ""

    @Option(help: "Operations per page (0: the server's default).")
    var pageSize: Int32 = 0

    @Option(help: "Start at this page (a token printed by a previous list).")
    var pageToken = ""

    @Flag(help: "List every page, not just the first.")
    var all = false

    @Flag(help: "List every collection at once (the name `-`), in creation order.")
    var allCollections = false

    func validate() throws {
        if pageSize < 0 { throw ValidationError("--page-size must not be negative") }
        if allCollections && !collection.isEmpty { throw ValidationError("give either a collection or --all-collections, not both") }
    }

    func run() async throws {
        let json = global.json
        let collection = allCollections ? "-" : self.collection
        try await global.run { client in
            var operations: [Google_Longrunning_Operation] = []
            if all {
                // Each page is printed as it arrives, so a long listing starts at once and its
                // memory stays one page; the table's header comes with the first page only.
                var printed = false
                try await client.forEachOperationPage(in: collection, filter: filter, pageSize: pageSize, pageToken: pageToken) { page in
                    if json {
                        page.forEach { Output.line(JSONOutput.line($0)) }
                    } else if !page.isEmpty {
                        let updated = await client.updateTimes(of: page.map(\.name), concurrency: 8)
                        let table = HumanOutput.operationsTable(page, updated: updated)
                        Output.line(printed ? String(table.split(separator: "\n", maxSplits: 1).dropFirst().first ?? "") : table)
                        printed = true
                    }
                }
                if !json, !printed { Output.note("no operations") }
                return ExitCodes.success
            } else {
                let page = try await client.listOperations(in: collection, filter: filter, pageSize: pageSize, pageToken: pageToken)
                if json { page.operations.forEach { Output.line(JSONOutput.line($0)) } } else { operations = page.operations }
                if !page.nextPageToken.isEmpty {
                    Output.note("more operations: add --all, or --page-token \(page.nextPageToken)")
                }
            }
            if !json {
                if operations.isEmpty {
                    Output.note("no operations")
                } else {
                    let updated = await client.updateTimes(of: operations.map(\.name), concurrency: 8)
                    Output.line(HumanOutput.operationsTable(operations, updated: updated))
                }
            }
            return ExitCodes.success
        }
    }
}
