import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// Where the daemon's sockets go, and what it asks the system (its host name, a group's id).
extension Longrund {
    /// The default HTTP gateway socket's name, next to the gRPC socket.
    static let defaultHTTPSocketName = "longrund-http.sock"

    /// Where the HTTP/JSON gateway listens: `--http-socket`, nil for `none`; by default next to
    /// the gRPC socket, except under socket activation, where the manager owns the socket
    /// directory and passes the gateway's socket itself (named `http`) if it is wanted.
    static func httpSocketPath(_ flag: String?, grpcSocket: String, socketActivated: Bool) -> String? {
        if flag == "none" { return nil }
        if let flag { return flag }
        if socketActivated { return nil }
        let directory = grpcSocket.lastIndex(of: "/").map { String(grpcSocket[...$0]) } ?? ""
        return directory + defaultHTTPSocketName
    }

    /// Pins glibc's mmap threshold at its default, 128 KiB, unless the environment sets one
    /// (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, or either in `GLIBC_TUNABLES`). Left
    /// dynamic, glibc raises the threshold to the size of the largest mapped block freed (a
    /// snapshot's 1-2 MiB write buffer is one) and its trim threshold to twice that: from then on,
    /// blocks of up to that size come from the arenas of the threads that ask for them, and up to
    /// twice that stays free on top of each arena, which `malloc_trim` does not give back either.
    /// The snapshot, compaction and scrub threads each take an arena, and so the daemon's anonymous
    /// memory grew by megabytes at snapshots while the heap in use stayed flat (BENCHMARKS.md,
    /// "Differential snapshots"). Returns whether it pinned it.
    @discardableResult
    static func pinAllocatorThresholds(environment: [String: String]) -> Bool {
        let tunables = environment["GLIBC_TUNABLES"] ?? ""
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["MALLOC_TRIM_THRESHOLD_"] == nil,
              !tunables.contains("glibc.malloc.mmap_threshold"), !tunables.contains("glibc.malloc.trim_threshold")
        else { return false }
        #if canImport(Glibc)
        // Glibc's module map leaves out <malloc.h>: mallopt is looked up, and M_MMAP_THRESHOLD is -3 there.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        return unsafeBitCast(symbol, to: Mallopt.self)(-3, 128 * 1024) == 1
        #else
        return false
        #endif
    }

    /// The system's host name (gethostname), nil if it has none.
    static func systemHostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    /// A group given by name or number, resolved through the system's group database.
    static func groupID(_ text: String, flag: String) throws -> gid_t {
        if let gid = gid_t(text) { return gid }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(text, &entry, &buffer, buffer.count, &result) == 0, result != nil else {
            throw ValidationError("\(flag): no group named \(text) (create it with groupadd, or give a gid)")
        }
        return entry.gr_gid
    }
}
