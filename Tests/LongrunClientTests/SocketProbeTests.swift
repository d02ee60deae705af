import Foundation
@testable import LongrunClient
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Unix socket bound at a fresh path in a fresh directory; listening if `listen`.
private final class BoundSocket {
    let directory: String
    let path: String
    let fd: Int32

    init(listen shouldListen: Bool) throws {
        directory = NSTemporaryDirectory() + "lr-probe-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/s.sock"
        #if canImport(Darwin)
        fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #else
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        if shouldListen { try #require(listen(fd, 1) == 0) }
    }

    deinit {
        close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("Socket probe")
struct SocketProbeTests {
    @Test func aListeningSocketAccepts() throws {
        let socket = try BoundSocket(listen: true)
        #expect(SocketProbe.check(socket.path) == .accepting)
    }

    @Test func aBoundSocketNobodyListensOnIsRefused() throws {
        let socket = try BoundSocket(listen: false)
        #expect(SocketProbe.check(socket.path) == .refused)
    }

    @Test func noSocketIsMissing() throws {
        let socket = try BoundSocket(listen: true)
        #expect(SocketProbe.check(socket.directory + "/other.sock") == .missing)
    }

    /// Root may connect to anything, so this runs only for other users.
    @Test(.enabled(if: getuid() != 0, "root is never denied"))
    func aSocketWithoutWritePermissionIsDenied() throws {
        let socket = try BoundSocket(listen: true)
        try #require(chmod(socket.path, 0o000) == 0)
        guard case .permissionDenied(let group?) = SocketProbe.check(socket.path) else {
            Issue.record("expected permission denied, got \(SocketProbe.check(socket.path))")
            return
        }
        #expect(!group.isEmpty)
    }
}
