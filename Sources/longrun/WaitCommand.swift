import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

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
