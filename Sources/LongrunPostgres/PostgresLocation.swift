import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a PostgreSQL store lives, parsed from a libpq-style URL:
///
/// - `postgres://user[:password]@host[:port]/database` — TCP (`postgresql://` works too);
/// - `postgres://user@/database?host=/var/run/postgresql` — the server's Unix socket directory
///   (the socket is `<dir>/.s.PGSQL.<port>`), as libpq spells it;
/// - `?sslmode=disable|prefer|require` (TCP; default `prefer`), `&schema=NAME` to keep several
///   stores in one database (default `public`).
///
/// The password may also come from `PGPASSWORD`; it never appears in ``description``.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var schema: String

    /// The variables of this process a URL reads (`PGUSER`, `PGPASSWORD`, `PGDATABASE`, `USER`).
    public static var processEnvironment: [String: String] {
        var result: [String: String] = [:]
        for name in ["PGUSER", "PGPASSWORD", "PGDATABASE", "USER"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }

    /// Whether `text` names a PostgreSQL store rather than a data directory.
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(parsing text: String, environment: [String: String] = [:]) throws(PostgresLocationError) {
        guard let schemeEnd = text.range(of: "://"), Self.isPostgresURL(text) else {
            throw PostgresLocationError("not a PostgreSQL URL: \(text) (expected postgres://user@host/database)")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[String(parts[0])] = parts.count > 1 ? Self.percentDecoded(parts[1]) : ""
            }
            rest = rest[..<mark]
        }
        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        var hostPort = authority
        var user = environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        var password = environment["PGPASSWORD"]
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = Self.percentDecoded(credentials[..<colon])
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                user = Self.percentDecoded(credentials)
            }
        }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasPrefix("[") || hostPort[..<colon].hasSuffix("]") {
            guard let number = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(number) else {
                throw PostgresLocationError("not a port in \(text): \(hostPort[hostPort.index(after: colon)...])")
            }
            port = number
            host = String(hostPort[..<colon])
        }
        if let number = query["port"] {
            guard let value = Int(number), (1...65535).contains(value) else { throw PostgresLocationError("not a port: \(number)") }
            port = value
        }
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            endpoint = .unixSocket(path: socketDirectory + "/.s.PGSQL.\(port)")
        } else if host.isEmpty {
            endpoint = .unixSocket(path: "/var/run/postgresql/.s.PGSQL.\(port)")
        } else {
            endpoint = .tcp(host: host.trimmingCharacters(in: "[]"), port: port)
        }
        self.user = query["user"] ?? user
        self.password = query["password"] ?? password
        database = path.isEmpty ? (environment["PGDATABASE"] ?? self.user) : Self.percentDecoded(path)
        guard let mode = TLSMode(rawValue: query["sslmode"] ?? "prefer") else {
            throw PostgresLocationError("sslmode must be disable, prefer or require, not \(query["sslmode"] ?? "")")
        }
        tls = mode
        schema = query["schema"] ?? "public"
        guard schema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), schema.first.map({ !$0.isNumber }) ?? false else {
            throw PostgresLocationError("schema must be a plain identifier (letters, digits, _), not \(schema)")
        }
        let known: Set = ["host", "port", "user", "password", "sslmode", "schema"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw PostgresLocationError("unknown parameter \(unknown) in the PostgreSQL URL (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// The location without its password, for logs and `longrun info`.
    public var description: String {
        let place = switch endpoint {
        case .tcp(let host, let port): "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .unixSocket(let path): path
        }
        return "postgres://\(user)@\(place)/\(database)" + (schema == "public" ? "" : "?schema=\(schema)")
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), let high = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex), high < utf8.endIndex,
               let low = utf8.index(index, offsetBy: 2, limitedBy: utf8.endIndex), low < utf8.endIndex,
               let value = UInt8(String(decoding: [utf8[high], utf8[low]], as: UTF8.self), radix: 16) {
                bytes.append(value)
                index = utf8.index(index, offsetBy: 3)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct PostgresLocationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var result = Substring(self)
        while let first = result.first, set.contains(first) { result.removeFirst() }
        while let last = result.last, set.contains(last) { result.removeLast() }
        return String(result)
    }
}
