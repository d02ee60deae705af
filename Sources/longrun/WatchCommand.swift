import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf
import Synchronization

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow the event log of a collection until interrupted.",
        discussion: """
            Prints the retained events after --after (default: from the start of the retained \
            log), then new ones as they are committed: SEQ TIME NAME KIND ACTOR DETAIL. To resume, \
            pass the last SEQ printed as --after. If the daemon goes away (a restart), watch \
            reconnects with backoff for up to --retry-for and resumes after the last event printed. \
            COLLECTION may name several with `-` as list takes it (`tenants/-`, `-` for all).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The collection (default: the root collection).")
    var collection = ""

    @Flag(help: "Follow every collection at once (the name `-`).")
    var allCollections = false

    @Option(help: "An AIP-160 filter on the operation's state after each event.")
    var filter = ""

    @Option(help: ArgumentHelp("Only events with a sequence greater than this.", valueName: "seq"))
    var after: UInt64 = 0

    @Flag(help: "Only events committed from now on (not with --after).")
    var head = false

    @Option(help: ArgumentHelp("How long to keep reconnecting when the daemon goes away (0s: not at all).", valueName: "duration"))
    var retryFor = "30s"

    func validate() throws {
        if head && after != 0 { throw ValidationError("--head and --after exclude each other") }
        if allCollections && !collection.isEmpty { throw ValidationError("give either a collection or --all-collections, not both") }
        _ = try parseDuration(retryFor, option: "--retry-for")
    }

    func run() async throws {
        let json = global.json
        let collection = allCollections ? "-" : self.collection
        let retry = try parseDuration(retryFor, option: "--retry-for") ?? .zero
        let liveness = Liveness()
        // The sequence to resume after: the last event printed or, with --head and nothing
        // printed yet, the log head when the watch first started.
        let resumeAfter = Mutex<UInt64?>(nil)
        try await global.run(reconnect: ReconnectPolicy(retryFor: retry), liveness: liveness) { client in
            let resume = resumeAfter.withLock { $0 }
            if resume == nil && head {
                let info = try await client.serverInfo()
                resumeAfter.withLock { $0 = $0 ?? info.appliedSequence }
            }
            liveness.answered()
            try await client.watchOperations(
                in: collection, filter: filter, afterSequence: resume ?? after, startAtHead: resume == nil && head
            ) { event in
                liveness.answered()
                Output.line(json ? JSONOutput.line(event) : HumanOutput.watchLine(event))
                resumeAfter.withLock { $0 = event.sequence }
            }
            // The daemon ended the stream (it does when it drains for a restart): resume.
            throw LongrunClientError(code: .unavailable, message: "the daemon ended the watch")
        }
    }
}
