import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunProto
import SwiftProtobuf

/// Starts `longrund` on a temporary socket and data directory, loads it, and reports ops/s,
/// latency percentiles, the daemon's CPU time and peak RSS, and a JSON result.
@main
struct LoadTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrun-load",
        abstract: "Load a real longrund over its Unix socket and report throughput and latency."
    )

    @Option(help: "Path to the longrund binary to start (build it with: swift build -c release --product longrund).")
    var longrund: String = "../.build/release/longrund"

    @Option(help: "Workload: get (W2: GetOperation by random name).")
    var workload: String = "get"

    @Option(help: "Operations stored before measuring.")
    var operations: Int = 100_000

    @Option(help: "Concurrent callers.")
    var concurrency: Int = 64

    @Option(help: "Seconds to measure.")
    var seconds: Int = 10

    @Option(help: "Write the result as JSON to this file.")
    var json: String?

    func run() async throws {
        guard workload == "get" else { throw ValidationError("unknown workload \(workload)") }
        let daemon = try Daemon.start(binary: longrund)
        defer { daemon.stop() }
        let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: daemon.socket), transportSecurity: .plaintext)
        let result = try await withGRPCClient(transport: transport) { client in
            let producers = Longrun_V1_Producers.Client(wrapping: client)
            let operationsClient = Google_Longrunning_Operations.Client(wrapping: client)
            try await Self.populate(producers, count: operations)
            let cpuBefore = daemon.cpuSeconds()
            let measured = try await Self.measure(concurrency: concurrency, seconds: seconds) { random in
                var request = Google_Longrunning_GetOperationRequest()
                request.name = "operations/op-\(Int.random(in: 0..<operations, using: &random))"
                _ = try await operationsClient.getOperation(request)
            }
            return (measured, daemon.cpuSeconds() - cpuBefore)
        }
        let (latencies, elapsed) = result.0
        let report = Report(
            workload: "W2 GetOperation, \(operations) operations stored, \(concurrency) callers",
            requests: latencies.count, seconds: elapsed, latenciesMicroseconds: latencies,
            daemonCPUSeconds: result.1, daemonPeakRSSKiB: daemon.peakRSSKiB()
        )
        print(report.text)
        if let json { try report.json.write(toFile: json, atomically: true, encoding: .utf8) }
    }

    /// Creates `count` operations over one StreamTransitions stream.
    static func populate(_ producers: Longrun_V1_Producers.Client<HTTP2ClientTransport.Posix>, count: Int) async throws {
        let answered = try await producers.streamTransitions(requestProducer: { writer in
            for index in 0..<count {
                try await writer.write(.with {
                    $0.tag = UInt64(index)
                    $0.create = .with { $0.operationID = "op-\(index)" }
                })
            }
        }) { response in
            var answered = 0
            for try await message in response.messages {
                if case .error(let status)? = message.result { throw RPCError(code: .unknown, message: "populate failed: \(status.message)") }
                answered += 1
            }
            return answered
        }
        guard answered == count else { throw RPCError(code: .unknown, message: "populate answered \(answered) of \(count)") }
    }

    /// Runs `call` from `concurrency` tasks for `seconds`; returns every latency (µs) and the time taken.
    static func measure(concurrency: Int, seconds: Int, _ call: @escaping @Sendable (inout SystemRandomNumberGenerator) async throws -> Void) async throws -> ([UInt32], Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(seconds)
        let all = try await withThrowingTaskGroup(of: [UInt32].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    var latencies: [UInt32] = []
                    latencies.reserveCapacity(1 << 16)
                    while clock.now < end {
                        let before = clock.now
                        try await call(&random)
                        let (s, atto) = (clock.now - before).components
                        latencies.append(UInt32(clamping: s * 1_000_000 + atto / 1_000_000_000_000))
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let (s, atto) = (clock.now - start).components
        return (all, Double(s) + Double(atto) / 1e18)
    }
}

struct Report {
    var workload: String
    var requests: Int
    var seconds: Double
    var latenciesMicroseconds: [UInt32]
    var daemonCPUSeconds: Double
    var daemonPeakRSSKiB: Int

    var perSecond: Double { Double(requests) / seconds }

    func percentile(_ p: Double) -> UInt32 {
        let sorted = latenciesMicroseconds.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    var text: String {
        """
        \(workload)
          \(requests) requests in \(String(format: "%.2f", seconds)) s: \(String(format: "%.0f", perSecond)) requests/s
          latency p50 \(percentile(0.5)) µs, p99 \(percentile(0.99)) µs
          daemon CPU \(String(format: "%.2f", daemonCPUSeconds)) s (\(String(format: "%.0f", daemonCPUSeconds / seconds * 100))% of one core), peak RSS \(daemonPeakRSSKiB / 1024) MiB
        """
    }

    var json: String {
        """
        {"workload": "\(workload)", "requests": \(requests), "seconds": \(seconds), "requests_per_second": \(perSecond), \
        "p50_us": \(percentile(0.5)), "p99_us": \(percentile(0.99)), "daemon_cpu_seconds": \(daemonCPUSeconds), "daemon_peak_rss_kib": \(daemonPeakRSSKiB)}
        """
    }
}

/// A longrund child process on a temporary data directory and socket.
final class Daemon: Sendable {
    let process: Process
    let directory: String
    let socket: String

    private init(process: Process, directory: String, socket: String) {
        self.process = process
        self.directory = directory
        self.socket = socket
    }

    static func start(binary: String) throws -> Daemon {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no longrund at \(binary); build it with: swift build -c release --product longrund (from the repository root)")
        }
        let directory = NSTemporaryDirectory() + "longrun-load-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let socket = directory + "/s.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--data-dir", directory + "/data", "--socket", socket, "--log-level", "warning"]
        try process.run()
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: socket) else { throw ValidationError("longrund did not create \(socket) within 6 s") }
        return Daemon(process: process, directory: directory, socket: socket)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// User + system CPU seconds of the daemon so far, from /proc.
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident set size (VmHWM) of the daemon, in KiB.
    func peakRSSKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
