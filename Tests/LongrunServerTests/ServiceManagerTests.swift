import LongrunServer
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The service-manager protocols, as a manager would drive them (no systemd needed): the
/// environment that asks for socket activation or notifications, and the datagrams sent.
@Suite("Service manager: socket activation and sd_notify")
struct ServiceManagerTests {
    @Test func socketActivationIsForTheProcessTheManagerNamesOnly() throws {
        #expect(try ServiceManager.inheritedSockets(environment: [:]) == nil)
        // LISTEN_PID names another process (the variables leaked into a child): not ours.
        #expect(try ServiceManager.inheritedSockets(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1"], pid: 4242) == nil)
        #expect {
            try ServiceManager.inheritedSockets(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "2"], pid: 4242)
        } throws: { "\($0)".contains("LISTEN_FDS=2") && "\($0)".contains("exactly one") }
        // Two sockets are one for gRPC and one named http (the HTTP/JSON gateway's), nothing else.
        #expect {
            try ServiceManager.inheritedSockets(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "longrund.socket:other"], pid: 4242)
        } throws: { "\($0)".contains("FileDescriptorName=http") }
        #expect {
            try ServiceManager.inheritedSockets(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:http"], pid: 4242)
        } throws: { "\($0)".contains("exactly one") }
        #expect {
            try ServiceManager.inheritedSockets(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"], pid: 4242)
        } throws: { "\($0)".contains("gRPC socket too") }
    }

    @Test func theWatchdogIntervalIsHalfWhatTheManagerAsksFor() {
        let notifier = ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"], pid: 7)
        #expect(notifier?.socketPath == "/run/x")
        #expect(notifier?.watchdogInterval == .seconds(15))
        // A watchdog meant for another process, or none at all.
        #expect(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"], pid: 7)?.watchdogInterval == nil)
        #expect(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "/run/x"], pid: 7)?.watchdogInterval == nil)
        #expect(ServiceManagerNotifier(environment: [:]) == nil)
    }

    @Test(arguments: [false, true])
    func notificationsArriveAsOneDatagramEach(abstract: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = abstract ? "@longrun-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory.child("notify")
        let receiver = try Datagrams(bindTo: path)
        defer { receiver.close() }
        let notifier = ServiceManagerNotifier(socketPath: path)
        #expect(notifier.notify("READY=1\nSTATUS=serving"))
        #expect(notifier.notify("WATCHDOG=1"))
        #expect(receiver.receive() == "READY=1\nSTATUS=serving")
        #expect(receiver.receive() == "WATCHDOG=1")
    }

    @Test func aManagerThatWentAwayIsIgnored() {
        #expect(!ServiceManagerNotifier(socketPath: "/nonexistent/notify").notify("READY=1"))
    }
}

/// A datagram socket bound at a path (or `@name`, abstract), standing in for the manager's.
private struct Datagrams {
    let fd: Int32

    init(bindTo path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0, "bind \(path): \(errno)")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer[0..<count], as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
