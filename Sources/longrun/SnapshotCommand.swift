import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Ask the daemon for a snapshot of every operation's state now (it also takes them on a schedule): a differential on the newest full one when fewer than half the records changed since it."
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
