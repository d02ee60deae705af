import ArgumentParser
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunPostgres
import LongrunReplayKit
import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "The data directory to read.",
        discussion: "Default: $LONGRUN_DATA_DIR, else \(DefaultPaths.current.dataDirectory) (where longrund keeps it).",
        valueName: "dir"
    ))
    var dataDir: String?

    @Flag(help: "Print JSON (one object, or one per line for lists of events and operations).")
    var json = false

    var directory: String { dataDir ?? DefaultPaths.current.dataDirectory }

    func openStore() throws -> Store {
        try ReplaySource.open(directory, logger: logger)
    }
}

/// For the commands that read a store's events (dump, history, state): a PostgreSQL store instead.
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A PostgreSQL store to read instead of a data directory (read directly; `state --at` without NAME first copies its log, checked against the chain, into a scratch directory).",
        valueName: "url"
    ))
    var store: String?

    /// Runs `body` on the data directory of `options`, or on the PostgreSQL store, read in place.
    func withSource<R>(_ options: CommonOptions, _ body: (any OperationStore) async throws -> R) async throws -> R {
        guard let store else { return try await body(options.openStore()) }
        let postgres = try await PostgresStore.open(try location(options, store), options: readOnly, logger: logger)
        defer { postgres.close() }
        return try await body(postgres)
    }

    /// Runs `body` on the data directory of `options`, or on a scratch copy of the PostgreSQL store
    /// (for what needs the whole log folded into views: `state --at` of a collection).
    func withStore<R>(_ options: CommonOptions, bar: ProgressBar, _ body: (Store) async throws -> R) async throws -> R {
        guard let store else { return try await body(options.openStore()) }
        let copy = try await ScratchCopy(of: try location(options, store), logger: logger, progress: { bar.update($0) })
        defer { copy.remove() }
        bar.finish()
        return try await body(copy.store)
    }

    private func location(_ options: CommonOptions, _ url: String) throws -> PostgresLocation {
        guard options.dataDir == nil else { throw ValidationError("--store and --data-dir name two stores: give one") }
        return try PostgresLocation(parsing: url, environment: PostgresLocation.processEnvironment)
    }

    /// A tool never creates a store by mistake.
    private var readOnly: PostgresStore.Options {
        var options = PostgresStore.Options()
        options.createIfAbsent = false
        return options
    }
}

let logger = ReplaySource.makeLogger()

/// Runs a command: its result code, or one line on stderr and exit code 1 for an error.
func execute(_ body: (ProgressBar) throws -> Int32) throws {
    let bar = ProgressBar()
    try conclude(bar, Result { try body(bar) })
}

/// ``execute(_:)`` for async commands (the PostgreSQL ones).
func executeAsync(_ body: (ProgressBar) async throws -> Int32) async throws {
    let bar = ProgressBar()
    let result: Result<Int32, any Error>
    do { result = .success(try await body(bar)) } catch { result = .failure(error) }
    try conclude(bar, result)
}

/// Ends a command's progress bar and output, and turns its result into the exit code.
private func conclude(_ bar: ProgressBar, _ result: Result<Int32, any Error>) throws {
    bar.finish()
    Output.flush()
    switch result {
    case .success(let code):
        if code != ReplayExitCode.success { throw ExitCode(code) }
    case .failure(let exit as ExitCode):
        throw exit
    case .failure(let error):
        Output.error(ReplaySource.errorLine(error))
        throw ExitCode(ReplayExitCode.failure)
    }
}

func parseTime(_ text: String?, option: String) throws -> Timestamp? {
    guard let text else { return nil }
    guard let time = LongrunDomain.RFC3339.parse(text) else {
        throw ValidationError("\(option) '\(text)' is not an RFC 3339 time, e.g. 2027-01-15T08:00:00Z")
    }
    return time
}

func parseName(_ text: String) throws -> OperationName {
    do { return try OperationName(parsing: text) } catch { throw ValidationError(error.message) }
}

/// Standard output through a buffer, written with write(2): a dump of millions of lines is not a
/// syscall per line. A closed pipe (`dump | head`) ends the process with 141, like SIGPIPE.
enum Output {
    private final class Buffer: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    private static let buffer = Buffer()

    static func line(_ text: String) {
        buffer.bytes.append(contentsOf: text.utf8)
        buffer.bytes.append(0x0A)
        if buffer.bytes.count >= 1 << 16 { flush() }
    }

    static func flush() {
        var offset = 0
        while offset < buffer.bytes.count {
            let written = buffer.bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                exit(errno == EPIPE ? 141 : ReplayExitCode.failure)
            }
            offset += written
        }
        buffer.bytes.removeAll(keepingCapacity: true)
    }

    static func error(_ text: String) {
        note("longrun-replay: " + text)
    }

    static func note(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}
