#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#elseif canImport(Darwin)
public import Darwin
#endif

/// Where `longrund` keeps its data and listens, and so where `longrun` and clients look, when
/// nothing is configured. One definition, shared by the daemon and its clients.
///
/// - root: `/var/lib/longrun` and `/run/longrun/longrund.sock`;
/// - others: `$XDG_STATE_HOME/longrun` (default `~/.local/state/longrun`) and
///   `$XDG_RUNTIME_DIR/longrun/longrund.sock` (default: `/tmp/longrun-$UID/longrund.sock`).
/// `LONGRUN_SOCKET` overrides the socket for clients; `LONGRUN_DATA_DIR` the data directory.
/// Clients also find the system daemon: see ``clientSocketPath(uid:environment:fileExists:)``.
public struct DefaultPaths: Sendable, Equatable {
    public var dataDirectory: String
    public var socketPath: String

    public init(dataDirectory: String, socketPath: String) {
        self.dataDirectory = dataDirectory
        self.socketPath = socketPath
    }

    /// The defaults for this process's user and environment.
    public static var current: DefaultPaths {
        resolve(uid: getuid(), environment: { name in getenv(name).map { String(cString: $0) } })
    }

    /// Where the system daemon (run by root or by systemd) listens.
    public static let systemSocketPath = "/run/longrun/longrund.sock"

    /// The socket a client connects to when none is given, for this process's user and environment.
    public static var currentClientSocketPath: String {
        clientSocketPath(
            uid: getuid(),
            environment: { name in getenv(name).map { String(cString: $0) } },
            fileExists: { path in
                var info = stat()
                // EACCES on a directory on the way still means something may be there.
                return stat(path, &info) == 0 || errno == EACCES
            }
        )
    }

    /// The socket a client connects to when none is given: `LONGRUN_SOCKET` if set; else the
    /// user's default socket; but when that does not exist and ``systemSocketPath`` does, the
    /// system daemon's, so that `longrun` run by a non-root user finds the daemon systemd runs.
    /// Pure, for tests.
    public static func clientSocketPath(uid: uid_t, environment: (String) -> String?, fileExists: (String) -> Bool) -> String {
        let own = resolve(uid: uid, environment: environment).socketPath
        if let socket = environment("LONGRUN_SOCKET"), !socket.isEmpty { return socket }
        if !fileExists(own) && fileExists(systemSocketPath) { return systemSocketPath }
        return own
    }

    /// The defaults for `uid` given an environment lookup; pure, for tests.
    public static func resolve(uid: uid_t, environment: (String) -> String?) -> DefaultPaths {
        func nonEmpty(_ name: String) -> String? {
            guard let value = environment(name), !value.isEmpty else { return nil }
            return value
        }
        var paths: DefaultPaths
        if uid == 0 {
            paths = DefaultPaths(dataDirectory: "/var/lib/longrun", socketPath: systemSocketPath)
        } else {
            let home = nonEmpty("HOME") ?? "/tmp"
            let state = nonEmpty("XDG_STATE_HOME") ?? home + "/.local/state"
            let runtime = nonEmpty("XDG_RUNTIME_DIR").map { $0 + "/longrun" } ?? "/tmp/longrun-\(uid)"
            paths = DefaultPaths(dataDirectory: state + "/longrun", socketPath: runtime + "/longrund.sock")
        }
        if let socket = nonEmpty("LONGRUN_SOCKET") { paths.socketPath = socket }
        if let data = nonEmpty("LONGRUN_DATA_DIR") { paths.dataDirectory = data }
        return paths
    }
}
