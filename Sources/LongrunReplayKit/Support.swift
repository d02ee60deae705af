public import Logging
import LongrunCLIKit
public import LongrunDomain
public import LongrunStore
import LongrunWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exit codes of `longrun-replay`.
public enum ReplayExitCode {
    /// Done; for `verify` and `snapshot verify`: nothing wrong was found.
    public static let success: Int32 = 0
    /// The command could not do its work (the directory cannot be opened, a bad argument value, a
    /// target that exists, a storage failure...). One line on stderr says what and what to do next.
    public static let failure: Int32 = 1
    /// `verify` or `snapshot verify` found a problem (damaged log, views that differ from the log,
    /// a damaged snapshot...). The report says which.
    public static let problemsFound: Int32 = 2
    /// A usage error (ArgumentParser's EX_USAGE).
    public static let usage: Int32 = 64
}

/// A failure of the tool itself, with what to do next in its message.
public struct ReplayError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Opening the data directory to read it.
public enum ReplaySource {
    /// Opens `directory` read-only: nothing in it is changed, and it works while `longrund` serves
    /// it (LMDB allows readers beside the writer). The map is sized at its maximum up front, so a
    /// daemon growing the data file meanwhile does not invalidate the reader's map.
    public static func open(_ directory: String, logger: Logger) throws -> Store {
        guard FileSystem.exists(directory) else {
            throw ReplayError("\(directory) does not exist; pass --data-dir DIR, the directory longrund uses (it prints it at start)")
        }
        guard FileSystem.exists(directory + "/data.mdb") else {
            throw ReplayError("\(directory) holds no Longrun store (no data.mdb); pass --data-dir DIR, the directory longrund uses")
        }
        var configuration = Store.Configuration()
        configuration.readOnly = true
        configuration.initialMapSize = configuration.maximumMapSize
        do {
            return try Store(directory: directory, configuration: configuration, logger: logger)
        } catch let error as StoreError where error.kind == .missingDatabase {
            let database = error.database ?? "?"
            throw ReplayError("\(directory) lacks the database '\(database)' of this build's schema (it was written by an older longrund) and a read-only open cannot add it; use the longrun-replay built with the longrund that wrote it, or open it once with the current longrund (which creates the database) and check it with `longrun-replay verify`")
        }
    }

    /// A logger for the stores the tool opens: warnings and errors on stderr.
    public static func makeLogger() -> Logger {
        var logger = Logger(label: "longrun-replay") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .warning
        return logger
    }

    /// The one line printed on stderr (after `longrun-replay: `) for `error`.
    public static func errorLine(_ error: any Error) -> String {
        switch error {
        case let error as ReplayError: return error.message
        case let error as StoreError: return error.message
        case let error as DomainError: return error.message
        case let error as FilterError: return "invalid --filter: \(error.message)"
        default: return String(describing: error)
        }
    }
}

/// The files and directories the tool touches, without Foundation.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// The parent directory of `path` (`.` for a bare name).
    public static func parent(of path: String) -> String {
        parentDirectory(of: path)
    }

    /// An absolute path without `.`, `..` or symbolic links in the part of it that exists; the part
    /// that does not exist yet is appended as given (normalized).
    public static func canonical(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "/"
            absolute = cwd + "/" + path
        }
        var components: [Substring] = []
        for component in absolute.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        // Resolve the longest prefix that exists.
        var existing = components.count
        while existing > 0 {
            let prefix = "/" + components[0..<existing].joined(separator: "/")
            if let resolved = realpath(prefix, nil) {
                defer { free(resolved) }
                let rest = components[existing...].joined(separator: "/")
                let base = String(cString: resolved)
                return rest.isEmpty ? base : (base == "/" ? "/" : base + "/") + rest
            }
            existing -= 1
        }
        return "/" + components.joined(separator: "/")
    }

    /// Whether `path` is `directory` or inside it (both canonicalized).
    public static func isInside(_ path: String, _ directory: String) -> Bool {
        let path = canonical(path), directory = canonical(directory)
        return path == directory || path.hasPrefix(directory == "/" ? "/" : directory + "/")
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// A fresh private directory for scratch stores (`verify`, `state --at`), removed by ``remove()``.
public final class ScratchDirectory: Sendable {
    public let path: String

    /// Creates `longrun-replay-XXXXXX` in `parent`, or in `$TMPDIR` (default `/tmp`).
    public init(in parent: String? = nil) throws {
        let base = parent ?? (getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        var template = Array("\(base)/longrun-replay-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } }) else {
            throw ReplayError("cannot create a scratch directory in \(base): \(FileSystem.errorText()); choose another with --scratch DIR")
        }
        path = created
    }

    public func remove() {
        removeTree(path)
    }
}

/// Minimal JSON values for the tool's own objects (reports, summaries); protobuf messages are
/// printed by ``JSONOutput`` and embedded with ``raw(_:)``.
public indirect enum JSONValue: Sendable {
    case string(String)
    case unsigned(UInt64)
    case signed(Int64)
    case bool(Bool)
    case null
    /// Already-encoded JSON, e.g. from `JSONOutput.line`.
    case raw(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func optional(_ value: UInt64?) -> JSONValue { value.map { .unsigned($0) } ?? .null }
    public static func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    public static func time(_ value: Timestamp?) -> JSONValue { value.map { .string(LongrunDomain.RFC3339.format($0)) } ?? .null }

    public var text: String {
        switch self {
        case .string(let value): JSONOutput.quote(value)
        case .unsigned(let value): String(value)
        case .signed(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        case .raw(let json): json
        case .array(let values): "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let fields): "{" + fields.map { JSONOutput.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }
}

extension Actor {
    /// The actor in the protobuf JSON mapping (`{"uid":1000,"pid":42,"label":"worker"}`).
    var json: JSONValue { .raw(JSONOutput.line(plain: proto)) }
}

/// `label uid=1000 pid=42`, or `-`.
func describe(_ actor: Actor) -> String {
    HumanOutput.actor(actor.proto)
}

/// `2027-01-15T08:00:00Z`.
func format(_ time: Timestamp) -> String {
    LongrunDomain.RFC3339.format(time)
}

/// Lines in `key: value` form with the values aligned.
func aligned(_ lines: [(String, String)]) -> String {
    let width = (lines.map { $0.0.count }.max() ?? 0) + 2
    return lines.map { key, value in
        let label = key + ":"
        return label + String(repeating: " ", count: max(1, width - label.count)) + value
    }.joined(separator: "\n")
}
