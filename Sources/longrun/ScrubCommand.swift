import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto

struct ScrubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scrub",
        abstract: "Check the whole store now: the log's chain and every record's checksum, every operation against its events, every index entry, the snapshots.",
        discussion: """
            The daemon also scrubs in the background (longrund --scrub-interval). Prints what it \
            found; exits 5 if anything is damaged (then run `longrun repair`).
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.run { client in
            let status = try await client.scrub()
            if global.json {
                Output.line(JSONOutput.line(plain: status))
            } else {
                Output.line(IntegrityText.summary(status))
                for finding in status.findings { Output.line("  " + IntegrityText.line(finding)) }
            }
            return status.findings.isEmpty ? ExitCodes.success : ExitCodes.damageFound
        }
    }
}
