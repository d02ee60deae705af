package import LongrunProto

/// How integrity findings read in a terminal.
package enum IntegrityText {
    package static func summary(_ status: Longrun_V1_IntegrityStatus) -> String {
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

    package static func line(_ finding: Longrun_V1_IntegrityFinding) -> String {
        var subject = finding.database
        if finding.sequence > 0 { subject += " event \(finding.sequence)" } else if !finding.key.isEmpty { subject += " '\(finding.key)'" }
        if !finding.operation.isEmpty { subject += " (\(finding.operation))" }
        return "\(finding.kind): \(subject): \(finding.message)\(finding.repairable ? " [repairable: longrun repair]" : "")"
    }
}
