#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the daemon's socket can or cannot be connected to, found with a plain `connect(2)`.
///
/// gRPC reports every failure to connect as `UNAVAILABLE` with a message that does not say why;
/// an operator needs to know whether to start the daemon or to fix their group membership.
package enum SocketState: Equatable, Sendable {
    /// A listener accepted the connection: the daemon (or something) is there.
    case accepting
    /// Nothing exists at the path (`ENOENT`).
    case missing
    /// A socket file nobody listens on, e.g. left by a daemon that crashed (`ECONNREFUSED`).
    case refused
    /// The caller may not connect (`EACCES`/`EPERM`): the socket's group (by name when known),
    /// or nil when a directory on the way is what cannot be searched.
    case permissionDenied(group: String?)
    /// Any other failure, with its `strerror` text.
    case failed(String)
}

package enum SocketProbe {
    /// Connects to the Unix socket at `path` and closes the connection at once.
    package static func check(_ path: String) -> SocketState {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else { return .failed("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        #if canImport(Darwin)
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(fd) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result == 0 { return .accepting }
        let error = errno
        switch error {
        case ENOENT: return .missing
        case ECONNREFUSED: return .refused
        case EACCES, EPERM:
            var info = stat()
            // stat needs only search permission on the directories: if it fails, a directory
            // on the way is what denies access, not the socket's group.
            guard stat(path, &info) == 0 else { return .permissionDenied(group: nil) }
            return .permissionDenied(group: groupName(info.st_gid) ?? String(info.st_gid))
        default: return .failed(String(cString: strerror(error)))
        }
    }

    private static func groupName(_ gid: gid_t) -> String? {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return nil }
        return String(cString: name)
    }
}
