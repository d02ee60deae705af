import ArgumentParser
import BenchmarkSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A server child process (longrund, or this tool's no-op server) listening on a Unix socket, with
/// its CPU time and memory read from /proc.
final class ServerProcess: Sendable {
    let process: Process
    let socket: String
    /// When `run()` was called, for start-up timings.
    let startedAt: ContinuousClock.Instant

    private init(process: Process, socket: String, startedAt: ContinuousClock.Instant) {
        self.process = process
        self.socket = socket
        self.startedAt = startedAt
    }

    /// Launches `executable` and returns at once; call ``waitForSocket(timeout:)`` before using it.
    /// The child's standard output (its banner) is discarded; its standard error is kept.
    static func launch(executable: String, arguments: [String], socket: String) throws -> ServerProcess {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("no executable at \(executable); build longrund with: swift build -c release --product longrund (from the repository root)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let startedAt = ContinuousClock.now
        try process.run()
        return ServerProcess(process: process, socket: socket, startedAt: startedAt)
    }

    /// Returns once something accepts connections on the socket; polls every `interval`.
    func waitForSocket(timeout: Duration, interval: Duration = .milliseconds(5)) throws {
        let deadline = ContinuousClock.now + timeout
        while !UnixSocket.accepts(socket) {
            guard process.isRunning else {
                throw ValidationError("\(process.executableURL?.lastPathComponent ?? "server") exited with status \(process.terminationStatus) before listening on \(socket)")
            }
            guard ContinuousClock.now < deadline else { throw ValidationError("nothing listened on \(socket) within \(timeout)") }
            usleep(UInt32(interval.microseconds))
        }
    }

    /// SIGTERM, then waits for the exit.
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    var pid: Int32 { process.processIdentifier }

    /// User + system CPU seconds of the process so far.
    func cpuSeconds() -> Double { processCPUSeconds("\(pid)") }

    /// Peak resident set size (VmHWM), in KiB.
    func peakRSSKiB() -> Int { statusField("VmHWM:") }

    /// Current resident set size (VmRSS), in KiB.
    func rssKiB() -> Int { statusField("VmRSS:") }

    private func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}

/// A longrund child on a temporary socket, serving a temporary data directory or a given one.
struct Daemon: Sendable {
    let server: ServerProcess
    /// The temporary directory holding the socket (and the data directory unless one was given).
    let scratch: String
    let dataDirectory: String
    private let ownsData: Bool

    var socket: String { server.socket }

    /// Starts longrund and waits until it listens. `dataDirectory` nil: a fresh, temporary one.
    static func start(binary: String, dataDirectory: String? = nil, arguments: [String] = [], startTimeout: Duration = .seconds(120)) throws -> Daemon {
        let daemon = try launch(binary: binary, dataDirectory: dataDirectory, arguments: arguments)
        do {
            try daemon.server.waitForSocket(timeout: startTimeout)
        } catch {
            daemon.stop()
            throw error
        }
        return daemon
    }

    /// Starts longrund without waiting for it to listen.
    static func launch(binary: String, dataDirectory: String? = nil, arguments: [String] = []) throws -> Daemon {
        let scratch = try Scratch.make("daemon")
        let socket = scratch + "/s.sock"
        let data = dataDirectory ?? scratch + "/data"
        let server = try ServerProcess.launch(
            executable: binary,
            arguments: ["--data-dir", data, "--socket", socket, "--log-level", "warning"] + arguments,
            socket: socket
        )
        return Daemon(server: server, scratch: scratch, dataDirectory: data, ownsData: dataDirectory == nil)
    }

    /// Stops the daemon and removes its scratch directory (and its data, if temporary).
    func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

/// Unique temporary directories for this run.
enum Scratch {
    private static let counter = Counter()

    static func make(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "longrun-load-\(getpid())-\(label)-\(counter.next())"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

enum UnixSocket {
    /// True if something accepts connections on `path` (bound and listening).
    static func accepts(_ path: String) -> Bool {
        guard let fd = connected(to: path) else { return false }
        close(fd)
        return true
    }

    /// The body of an HTTP/1.0 `GET target` answered on `path` (the daemon's metrics socket), or
    /// nil if it could not be read or the status is not 200.
    static func get(_ target: String, from path: String) -> String? {
        guard let fd = connected(to: path) else { return nil }
        defer { close(fd) }
        let request = Array("GET \(target) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), text.split(separator: " ", maxSplits: 2).dropFirst().first == "200",
              let body = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[body.upperBound...])
    }

    private static func connected(to path: String) -> Int32? {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return nil
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}

/// User + system CPU seconds of process `pid` ("self" for this one) so far, from /proc.
func processCPUSeconds(_ pid: String) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
