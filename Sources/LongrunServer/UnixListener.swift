#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the daemon cannot listen or own its data directory. Each message says what to do next.
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Creates the daemon's listening Unix socket itself, so that it has the configured mode from the
/// moment it exists (bound under a umask, no window where it is more open), a live socket of
/// another daemon is refused rather than stolen, and a stale socket file is replaced.
enum UnixListener {
    /// Connections the kernel queues for the daemon to accept: a burst of clients connecting at
    /// once beyond it is refused (EAGAIN on a Unix socket).
    static let backlog: Int32 = 1024

    /// Sets the backlog again on a listening socket swift-nio has taken: its channel for a bound
    /// socket listens again with its default of 128 before any option applies, so 128 clients
    /// connecting at once filled the queue and the next were refused. The daemon's own socket gets
    /// ``backlog``; one the service manager passed (`inherited`) the most the kernel allows
    /// (`net.core.somaxconn`), which is systemd's default for `Backlog=` and never less than what
    /// systemd could have set, where ``backlog`` would have lowered it.
    static func restoreBacklog(of socket: Int32, inherited: Bool) {
        _ = listen(socket, inherited ? Int32.max : backlog)
    }

    static func bind(path: String, mode: mode_t, group: gid_t? = nil) throws -> Int32 {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw StartupError("socket path \(path) is longer than the system allows (\(MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1) bytes); choose a shorter --socket")
        }
        try makeParentDirectory(of: path)
        try checkDirectoryIsPrivate(of: path)
        if try checkAvailable(path: path) {
            unlink(path)  // stale: its daemon is gone
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartupError("cannot create a socket: \(String(cString: strerror(errno)))") }
        var address = makeAddress(path)
        // Bound owner-only, then given its group, then its mode: never more open than configured.
        let previousMask = umask(~(mode & 0o700) & 0o777)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let bindErrno = errno
        umask(previousMask)
        guard bound == 0 else {
            close(fd)
            throw StartupError("cannot bind \(path): \(String(cString: strerror(bindErrno)))")
        }
        if let group, chown(path, getuid(), group) != 0 {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(path)
            throw StartupError("cannot give \(path) the group \(group): \(message); the daemon's user must be a member of that group")
        }
        guard chmod(path, mode) == 0, listen(fd, backlog) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(path)
            throw StartupError("cannot listen on \(path): \(message)")
        }
        return fd
    }

    /// Throws if `path` is live or not a socket, or its directory is one others could replace it
    /// in; returns true if a stale socket file is there.
    @discardableResult
    static func checkAvailable(path: String) throws -> Bool {
        try checkDirectoryIsPrivate(of: path, allowMissing: true)
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError("\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if isLive(path) {
            throw StartupError("another longrund is serving on \(path); stop it first or choose another --socket")
        }
        return true
    }

    /// True if something accepts connections on `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = makeAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }

    private static func makeAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(path.utf8)
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        return address
    }

    /// Refuses a socket directory that others can write to: whoever can write there could replace
    /// the socket with their own between this daemon's start and a client's connect. A directory
    /// that does not exist yet passes with `allowMissing` (it will be created private).
    ///
    /// The advice never tells to change the directory itself: a world-writable directory is
    /// usually shared on purpose (/tmp), and taking its write bit away would break every other user.
    static func checkDirectoryIsPrivate(of path: String, allowMissing: Bool = false) throws {
        let directory = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var info = stat()
        guard stat(directory, &info) == 0 else {
            if allowMissing && errno == ENOENT { return }
            throw StartupError("cannot inspect the socket directory \(directory): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & S_IWOTH != 0 {
            let name = path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...]
            throw StartupError("the socket directory \(directory) is writable by other users, who could replace the socket; "
                + "nothing was created. Put the socket in a directory only you or root can write: leave --socket unset "
                + "for the default ($XDG_RUNTIME_DIR/longrun or /run/longrun), or pass one inside a private directory, "
                + "e.g. --socket \(directory == "/" ? "" : directory)/longrun-\(getuid())/\(name) (longrund creates it)")
        }
        if info.st_uid != 0 && info.st_uid != getuid() {
            throw StartupError("the socket directory \(directory) belongs to uid \(info.st_uid), who could replace the socket; "
                + "use a directory owned by this user (uid \(getuid())) or root")
        }
    }

    /// Creates missing parent directories: 0755 so other users of a shared socket can reach it
    /// (the socket's own mode decides who may connect).
    private static func makeParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        var prefix = ""
        for component in path[..<slash].split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StartupError("cannot create directory \(prefix) for the socket: \(String(cString: strerror(errno)))")
            }
        }
    }
}
