#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#endif

/// What a service manager (systemd, or anything that speaks its protocols) tells the daemon in its
/// environment: the listening sockets it opened (socket activation, `LISTEN_FDS`), and where to
/// report readiness, shutdown and liveness (`NOTIFY_SOCKET`, `WATCHDOG_USEC`). Both protocols are
/// plain file descriptors and datagrams, so no systemd library is needed, and tests set the
/// variables themselves.
public enum ServiceManager {
    /// The variables of both protocols, as this process's environment has them.
    public static var environment: [String: String] {
        var found: [String: String] = [:]
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(name) { found[name] = String(cString: value) }
        }
        return found
    }

    /// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
    static let firstPassedDescriptor: Int32 = 3

    /// A listening Unix socket passed by socket activation, with the path it is bound to.
    public struct InheritedSocket: Sendable, Equatable {
        public var descriptor: Int32
        public var path: String
    }

    /// The sockets passed by socket activation: the gRPC one, and the HTTP/JSON gateway's if the
    /// manager passes a second one named `http` (`FileDescriptorName=http`, in `LISTEN_FDNAMES`).
    public struct InheritedSockets: Sendable, Equatable {
        public var grpc: InheritedSocket
        public var http: InheritedSocket?
    }

    /// The name that marks the HTTP/JSON gateway's socket in `LISTEN_FDNAMES`.
    public static let httpSocketName = "http"

    /// The listening sockets passed by socket activation, if the environment says there are any for
    /// this process (`LISTEN_PID` equals `pid`): one unnamed (or any name but `http`) for gRPC, and
    /// optionally one named `http`. Checks that each is a listening Unix stream socket. Removes the
    /// variables from the environment so that no child process takes them for its own.
    public static func inheritedSockets(environment: [String: String], pid: pid_t = getpid()) throws -> InheritedSockets? {
        guard let listenPID = environment["LISTEN_PID"], let count = environment["LISTEN_FDS"] else { return nil }
        guard pid_t(listenPID) == pid else { return nil }
        defer { for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard let count = Int(count), count == 1 || count == 2 else {
            throw StartupError("the service manager passed LISTEN_FDS=\(count) sockets; longrund serves exactly one gRPC socket (one ListenStream=, a path), "
                + "and optionally a second for HTTP/JSON from a socket unit with FileDescriptorName=\(httpSocketName)")
        }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        let httpIndex = names.count == count ? names.firstIndex(of: httpSocketName) : nil
        if count == 2 {
            guard let httpIndex, names.filter({ $0 == httpSocketName }).count == 1 else {
                throw StartupError("the service manager passed LISTEN_FDS=2 sockets, but LISTEN_FDNAMES=\(environment["LISTEN_FDNAMES"] ?? "") does not name exactly one of them "
                    + "\(httpSocketName); longrund serves exactly one gRPC socket, and a second only for HTTP/JSON: give that socket unit FileDescriptorName=\(httpSocketName)")
            }
            let http = try listeningUnixSocket(firstPassedDescriptor + Int32(httpIndex))
            let grpc = try listeningUnixSocket(firstPassedDescriptor + Int32(1 - httpIndex))
            return InheritedSockets(grpc: grpc, http: http)
        }
        if httpIndex != nil {
            throw StartupError("the only socket the service manager passed is named \(httpSocketName) (LISTEN_FDNAMES); longrund needs its gRPC socket too: give longrund.socket one ListenStream=")
        }
        return InheritedSockets(grpc: try listeningUnixSocket(firstPassedDescriptor), http: nil)
    }

    /// Checks that `descriptor` is a listening Unix stream socket; returns it with its path.
    private static func listeningUnixSocket(_ descriptor: Int32) throws -> InheritedSocket {
        var type: Int32 = 0, listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            throw StartupError("the descriptor the service manager passed (fd \(descriptor)) is not a stream socket; use ListenStream= in the socket unit")
        }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else {
            throw StartupError("the socket the service manager passed (fd \(descriptor)) is not listening")
        }
        var address = sockaddr_un()
        length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0, address.sun_family == sa_family_t(AF_UNIX) else {
            throw StartupError("the socket the service manager passed (fd \(descriptor)) is not a Unix socket; longrund serves on a Unix socket only (ListenStream=/run/longrun/longrund.sock)")
        }
        let path = withUnsafeBytes(of: address.sun_path) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return InheritedSocket(descriptor: descriptor, path: path)
    }
}

/// Sends `sd_notify` messages (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, `STATUS=...`) to the
/// datagram socket a service manager names in `NOTIFY_SOCKET`: a path, or `@name` for the abstract
/// namespace. Sending never blocks and never fails the daemon: a manager that went away is ignored.
public struct ServiceManagerNotifier: Sendable {
    public let socketPath: String
    /// How often the manager wants `WATCHDOG=1` (half its `WATCHDOG_USEC`), if it watches.
    public let watchdogInterval: Duration?

    public init(socketPath: String, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// The notifier the environment asks for, if any (`NOTIFY_SOCKET`; `WATCHDOG_USEC` when
    /// `WATCHDOG_PID` is unset or this process).
    public init?(environment: [String: String], pid: pid_t = getpid()) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        var interval: Duration?
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].map({ pid_t($0) == pid }) ?? true {
            interval = .microseconds(usec / 2)
        }
        self.init(socketPath: path, watchdogInterval: interval)
    }

    /// Sends one message; returns whether it was delivered.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // the abstract namespace
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let sent = message.utf8CString.withUnsafeBytes { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent == message.utf8.count
    }
}
