import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show an operation's events (also after its deletion).",
        discussion: "Columns: SEQ, TIME, KIND, ACTOR (label, uid, pid), DETAIL."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    func run() async throws {
        let json = global.json
        try await global.run { client in
            var events: [Longrun_V1_OperationEvent] = []
            try await client.forEachOperationEventPage(name, pageSize: 1000) { page in
                if json { page.forEach { Output.line(JSONOutput.line($0)) } } else { events += page }
            }
            if !json { Output.line(HumanOutput.eventsTable(events)) }
            return ExitCodes.success
        }
    }
}
