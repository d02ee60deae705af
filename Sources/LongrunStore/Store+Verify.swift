import Crypto
import LMDB
public import Logging
import LongrunDomain

/// Progress of a long store operation, for progress bars: `done` of `total` units of `phase`.
public struct StoreProgress: Sendable {
    public var phase: String
    public var done: UInt64
    public var total: UInt64

    public init(phase: String, done: UInt64, total: UInt64) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}

public typealias StoreProgressHandler = @Sendable (StoreProgress) -> Void

/// A problem `verify` found. `sequence` is the first bad event when the problem is in the log.
public struct VerifyProblem: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case gap, undecodable, sequenceMismatch, brokenChain, checksumMismatch, viewsDiffer, appliedMismatch, snapshotAhead, snapshotCorrupt
    }

    public var kind: Kind
    public var sequence: UInt64?
    public var message: String

    public init(kind: Kind, sequence: UInt64?, message: String) {
        self.kind = kind
        self.sequence = sequence
        self.message = message
    }

    public var description: String { message }
}

/// What `verify` checked and found.
public struct VerifyReport: Sendable {
    /// First and last sequence in the log (nil when empty), and the number of events checked.
    public var firstSequence: UInt64?
    public var headSequence: UInt64 = 0
    public var events: UInt64 = 0
    /// Chain hash of the newest event: the fingerprint of the whole history.
    public var headHash: ChainHash = .genesis
    public var appliedSequence: UInt64 = 0
    /// SHA-256 over a canonical encoding of the live views, and of views rebuilt from the log.
    public var viewsDigest: String = ""
    public var rebuiltDigest: String = ""
    public var snapshotsChecked = 0
    public var problems: [VerifyProblem] = []

    public init() {}

    public var isHealthy: Bool { problems.isEmpty }
    /// The first bad sequence of the log, if the log is where a problem is.
    public var firstBadSequence: UInt64? { problems.compactMap(\.sequence).min() }
}

extension Store {
    /// Walks the log checking that sequences are contiguous, every record decodes and names its own
    /// sequence, and every chain hash holds. Stops at the first bad event.
    /// With `from`, starts at that sequence trusting the chain hash stored before it (a start check
    /// of the recent log); without, checks the whole retained log from its base. Checks through
    /// `through`, or the head as it is when the check starts: the report's `headSequence` and
    /// `headHash` are that event's, whatever is appended meanwhile.
    public func verifyLog(from start: UInt64? = nil, through last: UInt64? = nil,
                          progress: StoreProgressHandler? = nil) throws -> (report: VerifyReport, problem: VerifyProblem?) {
        try verifyLog(from: start, through: last, readingAhead: .never, progress: progress)
    }

    /// ``verifyLog(from:through:progress:)``, with threads reading the log's pages ahead of the
    /// check (``LogReadAhead``) as `readingAhead` says.
    func verifyLog(from start: UInt64? = nil, through last: UInt64? = nil, readingAhead: LogReadAhead.Policy,
                   progress: StoreProgressHandler? = nil) throws -> (report: VerifyReport, problem: VerifyProblem?) {
        var report = VerifyReport()
        let (logTail, storeHead, base) = try read { reader in (try reader.logTail(), try reader.logHead(), try reader.baseHash()) }
        let head = min(last ?? storeHead, storeHead)
        report.firstSequence = logTail
        report.headSequence = head
        guard let logTail else { return (report, nil) }
        var tail = logTail
        var hash = base
        if let start, start > head {
            // Nothing after the starting point: nothing to check.
            report.headHash = try read { reader in try head == 0 ? .genesis : reader.chainHash(at: head) ?? reader.baseHash() }
            return (report, nil)
        }
        if let start, start > logTail {
            guard let before = try read({ reader in try reader.txn.get(reader.schema.log, key: Keys.sequence(start - 1)).map { try LogEntry.open($0, sequence: start - 1).hash } }) else {
                return (report, VerifyProblem(kind: .gap, sequence: start - 1, message: "event \(start - 1) is missing from the log"))
            }
            tail = start
            hash = before
        }
        var expected = tail
        var ahead = readingAhead == .never ? nil : ReadAheadWhenCold(store: self, through: head, always: readingAhead == .always)
        defer { ahead?.finish() }
        let chunk: UInt64 = 65_536
        while expected <= head {
            let problem: VerifyProblem? = try read { reader in
                try reader.txn.withCursor(schema.log) { cursor in
                    var entry = try cursor.seek(atLeast: Keys.sequence(expected))
                    var checked: UInt64 = 0
                    while let (key, value) = entry, checked < chunk, expected <= head {
                        let sequence = Keys.decodeSequence(key) ?? 0
                        if sequence != expected {
                            return VerifyProblem(kind: .gap, sequence: expected, message: "event \(expected) is missing from the log (the next present is \(sequence))")
                        }
                        guard let (stored, record) = LogEntry.split(value) else {
                            return VerifyProblem(kind: .undecodable, sequence: sequence, message: "event \(sequence) is too short to hold a chain hash")
                        }
                        let computed = hash.next(record: record)
                        guard computed == stored else {
                            return VerifyProblem(kind: .brokenChain, sequence: sequence,
                                                 message: "event \(sequence) does not match its chain hash: it was edited, removed or reordered")
                        }
                        guard LogEntry.checksumHolds(value, sequence: sequence) else {
                            return VerifyProblem(kind: .checksumMismatch, sequence: sequence,
                                                 message: "event \(sequence) fails its checksum although its chain holds: its checksum bytes were damaged")
                        }
                        do {
                            let event = try RecordCodec.decodeEvent(record)
                            guard event.sequence == sequence else {
                                return VerifyProblem(kind: .sequenceMismatch, sequence: sequence, message: "event stored at \(sequence) says it is \(event.sequence)")
                            }
                        } catch {
                            return VerifyProblem(kind: .undecodable, sequence: sequence, message: "event \(sequence) cannot be decoded: \(error)")
                        }
                        hash = computed
                        report.events += 1
                        ahead?.walked(through: sequence)
                        expected += 1
                        checked += 1
                        entry = try cursor.next()
                    }
                    return nil
                }
            }
            if let problem { return (report, problem) }
            progress?(StoreProgress(phase: "checking the log", done: expected - tail, total: head - tail + 1))
        }
        report.headHash = hash
        return (report, nil)
    }

    /// SHA-256 over every view database in key order (name, then length-prefixed keys and values).
    /// Equal digests mean equal views.
    public func viewsDigest() throws -> String {
        try read { reader in try viewsDigest(reader) }
    }

    func viewsDigest(_ reader: StoreReader) throws -> String {
        do {
            var hasher = SHA256()
            for database in schema.views {
                hasher.update(data: Array(database.name.utf8) + [0])
                try reader.txn.withCursor(database) { cursor in
                    var entry = try cursor.first()
                    while let (key, value) = entry {
                        withUnsafeBytes(of: UInt32(key.count).bigEndian) { hasher.update(bufferPointer: $0) }
                        hasher.update(bufferPointer: key)
                        withUnsafeBytes(of: UInt32(value.count).bigEndian) { hasher.update(bufferPointer: $0) }
                        hasher.update(bufferPointer: value)
                        entry = try cursor.next()
                    }
                }
            }
            return hasher.finalize().map { String($0, radix: 16).leftPadded(2) }.joined()
        }
    }

    /// The first key where the views of `self` and `other` differ, for a report.
    func firstViewDifference(from other: Store) throws -> String? {
        for (mine, theirs) in zip(schema.views, other.schema.views) {
            let difference: String? = try read { reader in
                try other.read { otherReader in
                    try reader.txn.withCursor(mine) { a in
                        try otherReader.txn.withCursor(theirs) { b in
                            var left = try a.first()
                            var right = try b.first()
                            while true {
                                switch (left, right) {
                                case (nil, nil): return nil
                                case (let (key, _)?, nil): return "\(mine.name): the views have \(printable(key)) that the log does not produce"
                                case (nil, let (key, _)?): return "\(mine.name): the log produces \(printable(key)) that the views lack"
                                case (let (k1, v1)?, let (k2, v2)?):
                                    if !k1.elementsEqual(k2) {
                                        return "\(mine.name): the views have \(printable(k1)) where the log produces \(printable(k2))"
                                    }
                                    if !v1.elementsEqual(v2) { return "\(mine.name): \(printable(k1)) differs from what the log produces" }
                                    left = try a.next()
                                    right = try b.next()
                                }
                            }
                        }
                    }
                }
            }
            if let difference { return difference }
        }
        return nil
    }

    /// Checks the log (chain, continuity), that the applied sequence is the log's head, that the
    /// views equal views rebuilt from the log in `scratchDirectory`, and that no snapshot is ahead of
    /// the log or damaged. Read-only on this store; works while a daemon serves it.
    public func verify(scratchDirectory: String, logger: Logger, progress: StoreProgressHandler? = nil) throws -> VerifyReport {
        var (report, problem) = try verifyLog(progress: progress)
        // The applied sequence and the views' digest from one transaction: a daemon may commit
        // meanwhile, and the rebuild below stops at the same sequence.
        let headNow: UInt64
        (report.appliedSequence, headNow, report.viewsDigest) = try read { reader in
            (try reader.appliedSequence(), try reader.logHead(), try viewsDigest(reader))
        }
        if let problem {
            report.problems.append(problem)
            return report
        }
        if report.appliedSequence != headNow {
            report.problems.append(VerifyProblem(kind: .appliedMismatch, sequence: nil,
                                                 message: "the views applied sequence \(report.appliedSequence) differs from the log head \(headNow)"))
        }
        let snapshots = try SnapshotFile.list(in: snapshotDirectory)
        var damaged: Set<String> = []
        for snapshot in snapshots {
            report.snapshotsChecked += 1
            if snapshot.sequence > report.headSequence {
                report.problems.append(VerifyProblem(kind: .snapshotAhead, sequence: nil,
                                                     message: "snapshot \(snapshot.path) is at sequence \(snapshot.sequence), ahead of the log head \(report.headSequence)"))
            }
            do { _ = try SnapshotFile.verify(snapshot.path) } catch {
                report.problems.append(VerifyProblem(kind: .snapshotCorrupt, sequence: nil, message: "snapshot \(snapshot.path): \(error)"))
                damaged.insert(snapshot.path)
            }
        }
        // A differential is restorable only with its base: present, intact (checked above, as a
        // snapshot of its own), and the one it names.
        for snapshot in snapshots where snapshot.isDifferential && !damaged.contains(snapshot.path) {
            do { try SnapshotFile.checkBase(of: snapshot, damaged: damaged) } catch {
                report.problems.append(VerifyProblem(kind: .snapshotCorrupt, sequence: nil, message: "\(error)"))
            }
        }
        let rebuilt = try Store.rebuild(from: self, into: scratchDirectory, upTo: report.appliedSequence,
                                        snapshot: try usableSnapshot(upTo: report.appliedSequence), logger: logger, progress: progress)
        report.rebuiltDigest = try rebuilt.viewsDigest()
        if report.viewsDigest != report.rebuiltDigest {
            let difference = try firstViewDifference(from: rebuilt) ?? "the digests differ"
            report.problems.append(VerifyProblem(kind: .viewsDiffer, sequence: nil, message: "the views differ from the log: \(difference)"))
        }
        return report
    }
}

private func printable(_ key: UnsafeRawBufferPointer) -> String {
    let text = String(decoding: key.prefix(while: { $0 != 0 }), as: UTF8.self)
    return key.contains(0) ? "'\(text)' (+\(key.count - text.utf8.count) bytes)" : "'\(text)'"
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
