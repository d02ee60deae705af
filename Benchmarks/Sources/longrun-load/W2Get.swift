import Foundation
import LongrunProto

/// W2: GetOperation by random name from C callers on one connection, against longrund with N
/// operations stored, and against a no-op Operations server on the same transport (this tool's
/// hidden `noop-server`) with the same callers and duration. The ratio daemon ÷ no-op is how much
/// of the transport's capacity the daemon keeps.
struct W2Result: Codable, Sendable {
    struct Side: Codable, Sendable {
        var requests: Int
        var seconds: Double
        var requestsPerSecond: Double
        var latency: LatencySummary
        var server: ProcessCost
        /// Server CPU per request: less sensitive than requests/s to a client short of CPU.
        var serverCPUMicrosecondsPerRequest: Double
    }

    var operationsStored: Int
    var callers: Int
    var daemon: Side
    var noop: Side
    /// Daemon requests/s ÷ no-op requests/s.
    var ratioToNoop: Double
    var target = "≥ 90% of the no-op server"
}

struct W2Get {
    let settings: Settings

    func run() async throws -> W2Result {
        let stored = settings.operations, callers = settings.concurrency
        say("W2 GetOperation by random name: \(stored) operations stored, \(callers) callers on one connection, \(settings.seconds) s")
        let daemon: W2Result.Side
        do {
            // Scheduled snapshots off: the 100k events of populating would start one inside the window.
            let process = try Daemon.start(binary: settings.longrund, arguments: ["--snapshot-log-ratio", "0", "--snapshot-every", "0", "--snapshot-interval", "0s"])
            defer { process.stop() }
            daemon = try await measure(process.server, populate: stored)
        }
        say("  longrund: \(Self.text(daemon))")
        let noopScratch = try Scratch.make("noop")
        defer { try? FileManager.default.removeItem(atPath: noopScratch) }
        let server = try ServerProcess.launch(executable: Self.ownExecutable, arguments: ["noop-server", "--socket", noopScratch + "/s.sock"], socket: noopScratch + "/s.sock")
        defer { server.stop() }
        try server.waitForSocket(timeout: .seconds(30))
        let noop = try await measure(server, populate: nil)
        say("  no-op:    \(Self.text(noop))")
        let ratio = daemon.requestsPerSecond / noop.requestsPerSecond
        say("  daemon ÷ no-op: \(Format.percent(ratio)) (target ≥ 90%)")
        return W2Result(operationsStored: stored, callers: callers, daemon: daemon, noop: noop, ratioToNoop: ratio)
    }

    /// Populates (daemon only), then measures GetOperation of random names `operations/op-N`.
    private func measure(_ server: ServerProcess, populate count: Int?) async throws -> W2Result.Side {
        let stored = settings.operations
        let (callers, seconds) = (settings.concurrency, settings.seconds)
        return try await Connection.with(socket: server.socket) { connection in
            if let count { try await populate(connection.producers, prefix: "op-", count: count) }
            let meter = CostMeter(server)
            let outcome = try await ClosedLoop.run(callers: callers, seconds: seconds) { _, random in
                var request = Google_Longrunning_GetOperationRequest()
                request.name = "operations/op-\(Int.random(in: 0..<stored, using: &random))"
                _ = try await connection.operations.getOperation(request)
            }
            let cost = meter.finish(seconds: outcome.seconds)
            return W2Result.Side(requests: outcome.latencies.count, seconds: outcome.seconds, requestsPerSecond: outcome.perSecond,
                                 latency: LatencySummary(outcome.latencies), server: cost,
                                 serverCPUMicrosecondsPerRequest: cost.cpuSeconds * 1e6 / Double(max(1, outcome.latencies.count)))
        }
    }

    private static func text(_ side: W2Result.Side) -> String {
        "\(Format.rate(side.requestsPerSecond)) requests/s, latency \(side.latency.text); server \(side.server.text); "
            + "\(Format.fixed(side.serverCPUMicrosecondsPerRequest, 0)) µs of server CPU per request"
    }

    /// This tool's own executable, to start its hidden no-op server.
    static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
