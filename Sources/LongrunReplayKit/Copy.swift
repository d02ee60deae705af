public import Logging
public import LongrunPostgres
public import LongrunStore

#if canImport(Glibc)
import Glibc
#endif

/// `copy`: a store's log from one backend to the other (LMDB data directory ↔ PostgreSQL), byte for
/// byte with its sequences, times, actors and chain hashes; the views are folded anew at the
/// destination, which is then verified.
public struct StoreCopy: Sendable {
    /// One end of a copy.
    public enum Place: Sendable, CustomStringConvertible {
        case directory(String)
        case postgres(PostgresLocation)

        /// A `postgres://` URL, or else a data directory.
        public init(parsing text: String, environment: [String: String]) throws {
            self = PostgresLocation.isPostgresURL(text) ? .postgres(try PostgresLocation(parsing: text, environment: environment)) : .directory(text)
        }

        public var description: String {
            switch self {
            case .directory(let path): path
            case .postgres(let location): location.description
            }
        }
    }

    public var source: String
    public var destination: String
    public var events: UInt64
    public var headHash: ChainHash
    /// The destination's verification.
    public var verification: Verification

    public var exitCode: Int32 { verification.exitCode }

    /// Copies `from` into `to`, which must be a new data directory or an empty PostgreSQL store, up
    /// to `until` (default: the head). A compacted LMDB log (one that no longer starts at event 1)
    /// is refused: the copy carries the whole history.
    /// With `verify` false the destination is not verified afterwards (a scratch copy: every
    /// entry was still checked against the chain on the way).
    public static func run(from: Place, to: Place, until: UInt64? = nil, verify: Bool = true, scratchParent: String? = nil, logger: Logger,
                           progress: StoreProgressHandler? = nil) async throws -> StoreCopy {
        let source = try await Endpoint.open(from, forWriting: false, logger: logger)
        defer { source.close() }
        let head = min(until ?? .max, try await source.head())
        if case .lmdb(let store) = source, let tail = try store.read({ try $0.logTail() }), tail > 1 {
            throw StoreError(.dataLoss, "\(from) keeps its log from event \(tail) on (older events were compacted): a copy carries the whole history, so it needs a log that starts at event 1")
        }
        if case .directory(let path) = to, access(path + "/data.mdb", F_OK) == 0 {
            throw StoreError(.foreignDirectory, "\(path) already holds a store: copy into a new directory")
        }
        let destination = try await Endpoint.open(to, forWriting: true, logger: logger)
        defer { destination.close() }
        guard try await destination.head() == 0 else {
            throw StoreError(.foreignDirectory, "\(to) already holds events: copy into an empty store (a new directory, or a new schema with ?schema=NAME)")
        }
        var position: UInt64 = 0
        var lastHash = ChainHash.genesis
        while position < head {
            let entries = try await source.entries(after: position, limit: Int(min(20_000, head - position)))
            guard let last = entries.last else { break }
            try await destination.append(entries)
            position = last.sequence
            if let hash = last.entry.withUnsafeBytes({ LogEntry.split($0)?.hash }) { lastHash = hash }
            progress?(StoreProgress(phase: "copying the log", done: position, total: head))
        }
        try await destination.foldCopied(progress: progress)
        var report = Verification(dataDirectory: to.description, report: VerifyReport())
        if verify {
            report = try await destination.verify(scratchParent: scratchParent, logger: logger, progress: progress)
        } else {
            report.report.headSequence = position
            report.report.headHash = lastHash
            report.notes.append("not verified: a scratch copy")
        }
        var copy = StoreCopy(source: from.description, destination: to.description, events: position, headHash: lastHash, verification: report)
        if report.report.headHash != lastHash, report.report.problems.isEmpty {
            copy.verification.report.problems.append(VerifyProblem(kind: .brokenChain, sequence: position,
                message: "the copy's head hash \(report.report.headHash) differs from the source's \(lastHash)"))
        }
        return copy
    }

    public var human: String {
        "copied \(events) events from \(source) to \(destination), head hash \(headHash)\n" + verification.human
    }

    public var json: String {
        JSONValue.object([
            ("source", .string(source)), ("destination", .string(destination)),
            ("events", .unsigned(events)), ("headHash", .string(headHash.description)),
            ("verification", .raw(verification.json)),
        ]).text
    }
}

/// A store opened for a copy or a check, whichever its backend.
enum Endpoint {
    case lmdb(Store)
    case postgres(PostgresStore)

    static func open(_ place: StoreCopy.Place, forWriting: Bool, logger: Logger) async throws -> Endpoint {
        switch place {
        case .directory(let path):
            if forWriting {
                var configuration = Store.Configuration()
                configuration.syncOnCommit = false
                return .lmdb(try Store(directory: path, configuration: configuration, logger: logger))
            }
            return .lmdb(try ReplaySource.open(path, logger: logger))
        case .postgres(let location):
            var options = PostgresStore.Options()
            options.createIfAbsent = forWriting
            return .postgres(try await PostgresStore.open(location, options: options, logger: logger))
        }
    }

    func head() async throws -> UInt64 {
        switch self {
        case .lmdb(let store): try store.read { try $0.logHead() }
        case .postgres(let store): try await store.appliedSequence()
        }
    }

    func entries(after sequence: UInt64, limit: Int) async throws -> [(sequence: UInt64, entry: [UInt8])] {
        switch self {
        case .lmdb(let store): try store.logEntries(after: sequence, limit: limit)
        case .postgres(let store): try await store.logEntries(after: sequence, limit: limit)
        }
    }

    func append(_ entries: [(sequence: UInt64, entry: [UInt8])]) async throws {
        switch self {
        case .lmdb(let store): try store.copyLogged(entries)
        case .postgres(let store): try await store.appendLogged(entries)
        }
    }

    /// Folds what ``append(_:)`` copied into the views: LMDB replays the copied log once it is all
    /// there; PostgreSQL folded each batch as it was appended.
    func foldCopied(progress: StoreProgressHandler?) async throws {
        if case .lmdb(let store) = self { try store.foldCopiedLog(progress: progress) }
    }

    func verify(scratchParent: String?, logger: Logger, progress: StoreProgressHandler?) async throws -> Verification {
        switch self {
        case .lmdb(let store):
            try store.sync()
            return try Verification.run(store: store, scratchParent: scratchParent, logger: logger, progress: progress)
        case .postgres(let store):
            return Verification(dataDirectory: store.location, report: try await store.verify(progress: progress))
        }
    }

    func close() {
        if case .postgres(let store) = self { store.close() }
    }
}

/// A PostgreSQL store's log copied into a scratch data directory, so that the tools that read a
/// data directory (dump, history, state --at) read it too. Each entry is checked against the chain
/// on the way, so a damaged log is refused naming its first bad event.
public final class ScratchCopy: Sendable {
    public let store: Store
    private let scratch: ScratchDirectory

    public init(of location: PostgresLocation, scratchParent: String? = nil, logger: Logger, progress: StoreProgressHandler? = nil) async throws {
        let scratch = try ScratchDirectory(in: scratchParent)
        do {
            _ = try await StoreCopy.run(from: .postgres(location), to: .directory(scratch.path + "/copy"), verify: false, logger: logger, progress: progress)
            store = try ReplaySource.open(scratch.path + "/copy", logger: logger)
        } catch {
            scratch.remove()
            throw error
        }
        self.scratch = scratch
    }

    /// Removes the scratch directory.
    public func remove() {
        scratch.remove()
    }
}
