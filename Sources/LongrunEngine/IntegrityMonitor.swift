import Logging
public import LongrunDomain
public import LongrunStore
import Synchronization

/// What the integrity checks of a running engine have found: the last complete scrub pass, and
/// every damaged record a read met since.
public struct IntegrityStatus: Sendable {
    public var lastPassStarted: Timestamp?
    public var lastPassFinished: Timestamp?
    /// Complete passes since the engine opened.
    public var passes: UInt64 = 0
    /// Records the last complete pass checked.
    public var recordsChecked: UInt64 = 0
    /// Reads refused with DATA_LOSS since the engine opened.
    public var damagedReads: UInt64 = 0
    /// The last complete pass's findings, then damaged records met by reads since, without repeats.
    public var findings: [IntegrityFinding] = []
    /// Passes running now (the background one, on-demand ones).
    public var passesRunning = 0

    public var isClean: Bool { findings.isEmpty }
}

/// Collects integrity findings from scrub passes and from reads, logging each once.
final class IntegrityMonitor: Sendable {
    private let state = Mutex(IntegrityStatus())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var status: IntegrityStatus { state.withLock { $0 } }

    var damageKnown: Bool { state.withLock { !$0.findings.isEmpty } }

    /// A read met a damaged record: count it, and log it the first time.
    func noteDamagedRead(_ error: StoreError) {
        if let damage = error.damage { noteDamagedRead(damage) }
    }

    func noteDamagedRead(_ damage: DamagedRecord) {
        let finding = IntegrityFinding(damaged: damage)
        let first = state.withLock { status in
            status.damagedReads += 1
            guard !status.findings.contains(finding) else { return false }
            status.findings.append(finding)
            return true
        }
        if first {
            logger.critical("a stored record fails its checksum; it is not served", metadata: [
                "record": "\(damage)", "operation": "\(damage.operation?.description ?? "-")",
                "repair": "\(damage.database == "log" ? "restore from a backup (longrun-replay verify shows the extent)" : "longrun repair")",
            ])
        }
    }

    /// A check outside a pass found damage (the tail check of the log): known until a pass no
    /// longer finds it or a repair clears it; logged the first time.
    func noteFinding(_ finding: IntegrityFinding) {
        let first = state.withLock { status in
            guard !status.findings.contains(finding) else { return false }
            status.findings.append(finding)
            return true
        }
        if first {
            logger.critical("the log check found damage", metadata: [
                "kind": "\(finding.kind.rawValue)", "sequence": "\(finding.sequence.map(String.init) ?? "-")", "detail": "\(finding.message)",
                "next": "see the extent with longrun-replay verify; restore from a backup",
            ])
        }
    }

    func passStarted() {
        state.withLock { $0.passesRunning += 1 }
    }

    /// Publishes a complete pass: its findings replace what was known before.
    func passFinished(started: Timestamp, finished: Timestamp, findings: [IntegrityFinding], checked: UInt64) {
        let (new, cleared) = state.withLock { status -> ([IntegrityFinding], Bool) in
            status.passesRunning -= 1
            // A pass checks every record: what it did not find is gone (repaired, or rewritten).
            let before = status.findings
            let merged = findings
            status.findings = merged
            status.passes += 1
            status.lastPassStarted = started
            status.lastPassFinished = finished
            status.recordsChecked = checked
            return (merged.filter { !before.contains($0) }, !before.isEmpty && merged.isEmpty)
        }
        for finding in new {
            logger.critical("the integrity scrub found damage", metadata: [
                "kind": "\(finding.kind.rawValue)", "database": "\(finding.database)", "key": "\(finding.printableKey ?? "-")",
                "operation": "\(finding.operation?.description ?? "-")", "sequence": "\(finding.sequence.map(String.init) ?? "-")",
                "repairable": "\(finding.repairable)", "detail": "\(finding.message)",
            ])
        }
        if cleared { logger.notice("the integrity scrub finds no damage any more") }
        logger.info("integrity scrub pass finished", metadata: ["records": "\(checked)", "findings": "\(findings.count)"])
    }

    func passAbandoned() {
        state.withLock { $0.passesRunning -= 1 }
    }

    /// After a repair: what it fixed is no longer a finding; what it could not fix or still finds is.
    func repaired(_ report: RepairReport) {
        let fixed = Set(report.repaired)
        state.withLock { status in
            status.findings.removeAll { finding in
                finding.repairable && (finding.operation.map(fixed.contains) ?? true)
            }
            for finding in report.unrepairable + report.remaining where !status.findings.contains(finding) {
                status.findings.append(finding)
            }
        }
    }
}
