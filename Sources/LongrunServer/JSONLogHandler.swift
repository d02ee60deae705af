public import Logging
import LongrunDefaults
public import LongrunDomain
import LongrunEngine
import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A swift-log handler that writes one JSON object per line (`longrund --log-format json`), for
/// log collectors: `time` (RFC 3339, UTC), `level`, `label`, `message`, `source`, then every
/// metadata key as its own field (nested metadata as objects and arrays, other values as strings).
/// Each line is written with one `write(2)`, so lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let output: @Sendable (String) -> Void
    private let now: @Sendable () -> Timestamp

    /// A handler writing to standard error.
    public init(label: String) {
        self.init(label: label, now: { SystemWallClock().now() }) { line in
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
    }

    /// A handler writing each line (with its newline) to `output`, stamping it with `now`.
    public init(label: String, now: @escaping @Sendable () -> Timestamp, output: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.now = now
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"time\":" + Self.quote(RFC3339.format(now())) + ",\"level\":" + Self.quote(event.level.rawValue)
        line += ",\"label\":" + Self.quote(label) + ",\"message\":" + Self.quote(event.message.description)
        line += ",\"source\":" + Self.quote(event.source)
        if let error = event.error { line += ",\"error\":" + Self.quote(String(describing: error)) }
        // Sorted keys: the same event always prints the same line.
        for key in merged.keys.sorted() where !["time", "level", "label", "message", "source", "error"].contains(key) {
            line += "," + Self.quote(key) + ":" + Self.json(merged[key]!)
        }
        output(line + "}\n")
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): quote(text)
        case .stringConvertible(let value): quote(value.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values): "{" + values.keys.sorted().map { quote($0) + ":" + json(values[$0]!) }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String { JSONString.quote(text) }
}
