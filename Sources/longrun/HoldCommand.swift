import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Keep an operation from expiring under the daemon's retention policy (recorded in its history)."
    )

    @OptionGroup var target: HoldTarget

    func run() async throws { try await target.setHold(true) }
}
