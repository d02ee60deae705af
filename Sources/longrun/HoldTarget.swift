import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

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
