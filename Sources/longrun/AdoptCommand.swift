import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct AdoptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adopt",
        abstract: "Take a running operation over: hold its lease from now on.",
        discussion: """
            For a restarted or replacement producer. Give the version read last (`longrun get --details`);             ABORTED if the operation moved on since. Prints the new version and whether cancellation             was requested, as `progress` does (exit code 4 when it was).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    @Option(help: ArgumentHelp("Adopt only if the operation's version is this (else ABORTED).", valueName: "n"))
    var expectedVersion: UInt64

    @Option(help: ArgumentHelp("The lease's TTL from now on, 1s to 24h (default: the lease's own).", valueName: "duration"))
    var lease: String?

    func validate() throws {
        _ = try parseDuration(lease, option: "--lease")
    }

    func run() async throws {
        let ttl = try parseDuration(lease, option: "--lease")
        try await global.run { client in
            let response = try await client.adoptOperation(name, expectedVersion: expectedVersion, lease: ttl)
            Output.line(global.json
                ? JSONOutput.line(response)
                : "version=\(response.version) cancel_requested=\(response.cancelRequested)")
            return response.cancelRequested ? ExitCodes.cancellationRequested : ExitCodes.success
        }
    }
}
