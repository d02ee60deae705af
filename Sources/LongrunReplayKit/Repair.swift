public import Logging
import LongrunDomain
public import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `repair`: scrubs a stopped store and rebuilds from its log every view the scrub finds damaged.
public struct Repair: Sendable {
    public var dataDirectory: String
    /// What the scrub found before the repair.
    public var findings: [IntegrityFinding]
    public var report: RepairReport

    /// 0 when nothing was wrong or everything was repaired; 2 when something remains.
    public var exitCode: Int32 {
        report.unrepairable.isEmpty && report.remaining.isEmpty ? ReplayExitCode.success : ReplayExitCode.problemsFound
    }

    /// Takes the directory's owner lock (so it never writes beside a running daemon: that one
    /// repairs with `longrun repair`), opens the store for writing, runs a whole scrub pass, and
    /// repairs what it found. The repaired operations each get a `repaired` event by `longrun-replay`.
    public static func run(directory: String, logger: Logger, progress: StoreProgressHandler? = nil) throws -> Repair {
        guard FileSystem.exists(directory + "/data.mdb") else {
            throw ReplayError("\(directory) holds no Longrun store (no data.mdb); pass --data-dir DIR, the directory longrund uses")
        }
        let lock: DirectoryLock
        do {
            lock = try Store.lockDirectory(directory)
        } catch {
            throw ReplayError("longrund is serving \(directory), and repair writes: ask it instead with `longrun repair`, or stop it and run this again")
        }
        return try withExtendedLifetime(lock) {
            let store = try Store(directory: directory, logger: logger)
            let findings = try Scrubber.run(store, progress: progress)
            let actor = Actor(uid: getuid(), pid: getpid(), label: "longrun-replay")
            let report = try store.repair(findings, actor: actor, now: SystemWallClock().now(), progress: progress)
            try store.sync()
            return Repair(dataDirectory: directory, findings: findings, report: report)
        }
    }

    public var human: String {
        var lines: [String] = []
        lines.append(findings.isEmpty ? "the scrub found no damage in \(dataDirectory)" : "the scrub found \(findings.count) problem(s) in \(dataDirectory)")
        for finding in findings { lines.append("  found: " + Self.line(finding)) }
        lines.append("repaired \(report.repaired.count) operation(s), dropped \(report.droppedEntries) damaged or stale entr\(report.droppedEntries == 1 ? "y" : "ies")")
        for name in report.repaired { lines.append("  repaired \(name)") }
        for finding in report.unrepairable { lines.append("  cannot repair: " + Self.line(finding)) }
        for finding in report.remaining { lines.append("  still damaged: " + Self.line(finding)) }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        JSONValue.object([
            ("dataDirectory", .string(dataDirectory)),
            ("found", .array(findings.map(Self.json))),
            ("repaired", .array(report.repaired.map { .string($0.description) })),
            ("droppedEntries", .unsigned(UInt64(report.droppedEntries))),
            ("unrepairable", .array(report.unrepairable.map(Self.json))),
            ("remaining", .array(report.remaining.map(Self.json))),
        ]).text
    }

    static func line(_ finding: IntegrityFinding) -> String {
        var subject = finding.database
        if let sequence = finding.sequence { subject += " event \(sequence)" } else if let key = finding.printableKey { subject += " '\(key)'" }
        if let operation = finding.operation { subject += " (\(operation))" }
        return "\(finding.kind.rawValue): \(subject): \(finding.message)"
    }

    static func json(_ finding: IntegrityFinding) -> JSONValue {
        .object([
            ("kind", .string(finding.kind.rawValue)),
            ("database", .string(finding.database)),
            ("key", .optional(finding.printableKey)),
            ("operation", .optional(finding.operation?.description)),
            ("sequence", .optional(finding.sequence)),
            ("message", .string(finding.message)),
            ("repairable", .bool(finding.repairable)),
        ])
    }
}
