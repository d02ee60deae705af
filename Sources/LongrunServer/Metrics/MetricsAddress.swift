/// Where the metrics endpoint listens (`longrund --metrics-listen`): a TCP `host:port`, or a Unix
/// socket path (any value with a `/`).
public enum MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`, `/run/longrun/metrics.sock`. The host is
    /// required: the endpoint is opt-in, and listening on every interface should be said outright
    /// (`0.0.0.0:9464`). Port 0 picks a free port (the daemon logs which).
    public init(parsing text: String) throws(MetricsAddressError) {
        if text.contains("/") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw MetricsAddressError("\(text) is neither host:port nor a socket path (try 127.0.0.1:9464)")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw MetricsAddressError("\(text) has no host: give one, e.g. 127.0.0.1\(text), or 0.0.0.0\(text) for every interface")
        }
        guard !host.contains(":") || text.hasPrefix("[") else {
            throw MetricsAddressError("\(text): put an IPv6 address in brackets, e.g. [::1]:9464")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw MetricsAddressError("\(text): the port must be a number from 0 to 65535")
        }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }
}

public struct MetricsAddressError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
