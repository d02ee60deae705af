#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// Takes the data directory's owner lock (an exclusive `flock` on ``daemonLockFile``, holding
    /// the owner's pid), creating the directory if needed: the daemon holds it while it serves, and
    /// offline tools that write (`longrun-replay repair`) take it too, so the two never write at once.
    /// Keep the returned object alive for as long as the directory is owned.
    public static func lockDirectory(_ directory: String) throws -> DirectoryLock {
        try DirectoryLock(directory: directory, lockFile: daemonLockFile)
    }
}

/// An exclusive, process-lifetime lock on a data directory (``Store/lockDirectory(_:)``).
public final class DirectoryLock: Sendable {
    private let fd: Int32

    init(directory: String, lockFile: String) throws {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            var prefix = ""
            for component in directory.split(separator: "/") {
                prefix += (directory.hasPrefix("/") || !prefix.isEmpty ? "/" : "") + component
                if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                    throw StoreError(.storage, "cannot create data directory \(prefix): \(String(cString: strerror(errno)))")
                }
            }
        }
        let path = directory + "/" + lockFile
        // Kept in a local until locked: once `self.fd` is set, a throw runs deinit, which closes it,
        // and a second close here would close whatever another thread has opened under that number.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError(.storage, "another longrund owns the data directory \(directory); stop it first or choose another --data-dir")
        }
        self.fd = fd
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        close(fd)
    }
}
