import LongrunEngine
import LongrunServer
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Socket ownership")
struct SocketTests {
    @Test func theSocketHasItsModeAndALiveOneIsNotStolen() async throws {
        try await Harness.with { h in
            var info = stat()
            #expect(stat(h.socketPath, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660)
            let other = try Fixtures.openEngine(h.directory.child("other"))
            defer { other.close() }
            #expect {
                try LongrunServer(engine: other, configuration: .init(socketPath: h.socketPath), logger: Fixtures.quietLogger)
            } throws: { "\($0)".contains("another longrund is serving") }
        }
    }

    @Test func aStaleSocketFileIsReplacedAndAPlainFileIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.child("data"))
        defer { engine.close() }
        // A socket file nobody listens on, as a killed daemon leaves behind.
        let stale = directory.child("stale.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(stale.utf8) + [0]) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        _ = try LongrunServer(engine: engine, configuration: .init(socketPath: stale), logger: Fixtures.quietLogger)

        let plain = directory.child("plain")
        close(open(plain, O_CREAT | O_WRONLY, 0o600))
        #expect {
            try LongrunServer(engine: engine, configuration: .init(socketPath: plain), logger: Fixtures.quietLogger)
        } throws: { "\($0)".contains("is not a socket") }
    }
}
