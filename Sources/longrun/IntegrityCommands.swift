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

/// How integrity findings read in a terminal.
enum IntegrityText {
    static func summary(_ status: Longrun_V1_IntegrityStatus) -> String {
        var parts: [String] = []
        parts.append(status.findings.isEmpty ? "no damage found" : "\(status.findings.count) problem(s) found")
        if status.hasLastPassFinished {
            parts.append("last scrub \(RFC3339.format(status.lastPassFinished)) (\(status.recordsChecked) records)")
        } else {
            parts.append("no scrub pass completed yet")
        }
        if status.passRunning { parts.append("a pass is running") }
        if status.damagedReads > 0 { parts.append("\(status.damagedReads) read(s) refused as damaged") }
        return parts.joined(separator: "; ")
    }

    static func line(_ finding: Longrun_V1_IntegrityFinding) -> String {
        var subject = finding.database
        if finding.sequence > 0 { subject += " event \(finding.sequence)" } else if !finding.key.isEmpty { subject += " '\(finding.key)'" }
        if !finding.operation.isEmpty { subject += " (\(finding.operation))" }
        return "\(finding.kind): \(subject): \(finding.message)\(finding.repairable ? " [repairable: longrun repair]" : "")"
    }
}
