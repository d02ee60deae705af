import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf
import Synchronization

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

struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait for an operation to be done, following its progress.",
        discussion: """
            Prints the final state. While waiting, and when standard error is a terminal, prints a \
            progress line whenever the metadata changes. Exit code: 0 the operation succeeded, 1 it \
            failed (or an RPC failed), 2 it was cancelled, 3 --timeout passed and it is not done, \
            6 the daemon could not be reached or stopped answering (the outcome is unknown). \
            If the daemon goes away while waiting (a restart), wait reconnects with backoff \
            (100 ms doubling to 2 s) for up to --retry-for, within --timeout.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    @Option(help: ArgumentHelp("Give up after this long, e.g. 30s, 1.5s, 500ms, 2m (default: no limit).", valueName: "duration"))
    var timeout: String?

    @Flag(help: "Do not print progress lines.")
    var quiet = false

    @Option(help: ArgumentHelp("How long to keep reconnecting when the daemon goes away (0s: not at all).", valueName: "duration"))
    var retryFor = "30s"

    func validate() throws {
        _ = try parseDuration(timeout, option: "--timeout")
        _ = try parseDuration(retryFor, option: "--retry-for")
    }

    func run() async throws {
        let limit = try parseDuration(timeout, option: "--timeout")
        let retry = try parseDuration(retryFor, option: "--retry-for") ?? .zero
        let reporter: ProgressReporter? = quiet || !Output.stderrIsTerminal
            ? nil
            : ProgressReporter(write: { Output.note($0) }, now: { .now })
        let deadline = limit.map { ContinuousClock.now + $0 }
        let liveness = Liveness()
        let policy = ReconnectPolicy(retryFor: retry, deadline: deadline)
        try await global.run(unreachableCode: ExitCodes.unreachable, reconnect: policy, liveness: liveness) { client in
            // One quick call first: the daemon has answered, so losing it later is a restart
            // to wait for, not a wrong socket.
            _ = try await client.getOperation(name)
            liveness.answered()
            let remaining = deadline.map { max($0 - .now, .zero) }
            let operation = try await client.waitUntilDone(name, timeout: remaining, perCallTimeout: .seconds(1)) { operation in
                liveness.answered()
                reporter?.observe(operation)
            }
            if global.json {
                Output.line(JSONOutput.line(operation))
            } else {
                Output.line(HumanOutput.operationBlock(operation))
            }
            if !operation.done, let timeout {
                Output.error("operation \(name) is not done after \(timeout)")
            }
            return ExitCodes.forOperation(operation)
        }
    }
}

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

/// What `hold` and `release` share: the operation, the reason, and the call.
struct HoldTarget: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    @Option(help: "Why; recorded in the hold_set or hold_released event.")
    var reason: String = ""

    func setHold(_ hold: Bool) async throws {
        try await global.run { client in
            let details = try await client.setHold(name, hold: hold, reason: reason)
            Output.line(global.json ? JSONOutput.line(details) : "\(hold ? "held" : "released") \(name)")
            return ExitCodes.success
        }
    }
}

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Keep an operation from expiring under the daemon's retention policy (recorded in its history)."
    )

    @OptionGroup var target: HoldTarget

    func run() async throws { try await target.setHold(true) }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release an operation's hold: it may expire again (recorded in its history)."
    )

    @OptionGroup var target: HoldTarget

    func run() async throws { try await target.setHold(false) }
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Ask the daemon for a snapshot of its views now (it also takes them on a schedule)."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.run { client in
            let snapshot = try await client.takeSnapshot()
            Output.line(global.json ? JSONOutput.line(plain: snapshot)
                : "snapshot at sequence \(snapshot.sequence): \(snapshot.path) (\(snapshot.sizeBytes) bytes)")
            return ExitCodes.success
        }
    }
}

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the daemon's version, data directory and durability.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.run { client in
            let info = try await client.serverInfo()
            if global.json {
                Output.line(JSONOutput.line(plain: info))
            } else {
                Output.line("""
                    version:           \(info.version)
                    data directory:    \(info.dataDirectory)
                    applied sequence:  \(info.appliedSequence)
                    durability:        \(info.durability)
                    socket:            \(global.socketPath)
                    integrity:         \(IntegrityText.summary(info.integrity))
                    """)
                for finding in info.integrity.findings { Output.line("  " + IntegrityText.line(finding)) }
            }
            return ExitCodes.success
        }
    }
}
