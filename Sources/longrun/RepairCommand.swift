import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild damaged views from the log (the named operations, or everything a fresh scrub finds).",
        discussion: """
            Each repaired operation gets a `repaired` event in its history. Damaged log events \
            cannot be rebuilt from anything and are listed instead, with what to do. Exits 5 if \
            anything remains damaged.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Full names of operations to rebuild (default: whatever a scrub finds).")
    var names: [String] = []

    func run() async throws {
        try await global.run { client in
            let report = try await client.repair(names)
            if global.json {
                Output.line(JSONOutput.line(plain: report))
            } else {
                Output.line("repaired \(report.repaired.count) operation(s), dropped \(report.droppedEntries) damaged or stale entr\(report.droppedEntries == 1 ? "y" : "ies")")
                for name in report.repaired { Output.line("  repaired " + name) }
                for finding in report.unrepairable { Output.line("  cannot repair: " + IntegrityText.line(finding)) }
                for finding in report.remaining { Output.line("  still damaged: " + IntegrityText.line(finding)) }
            }
            return report.unrepairable.isEmpty && report.remaining.isEmpty ? ExitCodes.success : ExitCodes.damageFound
        }
    }
}
