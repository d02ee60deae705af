import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct HeartbeatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heartbeat",
        abstract: "Renew a running operation's lease.",
        discussion: """
            Prints when the lease now expires, the version (a heartbeat does not change it) and             whether cancellation was requested (`lease_expire_time=... version=3 cancel_requested=false`).             Exit code 4 when cancellation was requested. Each heartbeat is one event in the history.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    func run() async throws {
        try await global.run { client in
            let response = try await client.heartbeat(name)
            Output.line(global.json
                ? JSONOutput.line(plain: response)
                : "lease_expire_time=\(RFC3339.format(response.leaseExpireTime)) version=\(response.version) cancel_requested=\(response.cancelRequested)")
            return response.cancelRequested ? ExitCodes.cancellationRequested : ExitCodes.success
        }
    }
}
