import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release an operation's hold: it may expire again (recorded in its history)."
    )

    @OptionGroup var target: HoldTarget

    func run() async throws { try await target.setHold(false) }
}
