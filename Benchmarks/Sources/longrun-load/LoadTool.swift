import ArgumentParser
import BenchmarkSupport
import Foundation
import LongrunServer

/// Starts `longrund` on temporary sockets and data directories, loads it over its Unix socket, and
/// reports throughput, latency percentiles, the daemon's CPU time and peak RSS, each workload's
/// ratio to its baseline measured in the same run, and a JSON result.
@main
struct LoadTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrun-load",
        abstract: "Load a real longrund over its Unix socket and report throughput and latency.",
        discussion: "`run` is the default subcommand: `longrun-load --workload all` runs everything; `longrun-load run --help` lists the options.",
        subcommands: [RunWorkloads.self, NoopServer.self, H2FloorServer.self],
        defaultSubcommand: RunWorkloads.self
    )
}

/// What every workload reads from the command line.
struct Settings: Sendable {
    var longrund: String
    var seconds: Int
    var producers: [Int]
    var streamWindow: Int
    var operations: Int
    var concurrency: Int
    var listSizes: [Int]
    var listConcurrency: Int
    var restartEvents: Int
    var restarts: Int
    var waiters: Int
    var waitConnections: Int?
    var waitClient: WaitClient
    var storeCache: String?
    var soakInterval: Int
    var soakRate: Int?
    var soakCSV: String?
}

struct RunWorkloads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one workload, or all of them in sequence (the default subcommand).",
        discussion: """
            w1  lifecycle: create → 3 progress → complete, unary and streaming, vs raw LMDB appends
            w2  GetOperation by random name (alias: get), vs a no-op server on the same transport
            w3  ListOperations page of 100, done = false, on 10k and 1M operations
            w5  restart on a 10M-event store, with and without a snapshot at the head
            w7  10k concurrent WaitOperation callers: wake-up latency and memory per waiter
            all every workload above, in that order
            soak  --seconds of unary lifecycles on the default settings, a line every --soak-interval
                  (not in all: run it on its own, e.g. --seconds 1800 --soak-csv soak.csv)
            """
    )

    @Option(help: "Path to the longrund binary to start (build it with: swift build -c release --product longrund).")
    var longrund: String = "../.build/release/longrund"

    @Option(help: "Workload: w1, w2 (or get), w3, w5, w7, all, or soak.")
    var workload: String = "w2"

    @Option(help: "Seconds to measure each run of a workload.")
    var seconds: Int = 5

    @Option(help: "Write the result as JSON to this file.")
    var json: String?

    @Option(help: "W1: concurrent producers, comma-separated: one run per count, unary and streaming.")
    var producers: String = "1,16,64"

    @Option(help: "W1 streaming: transitions each producer keeps unanswered on its stream.")
    var streamWindow: Int = 16

    @Option(help: "W2: operations stored before measuring.")
    var operations: Int = 100_000

    @Option(help: "W2: concurrent callers (on one connection).")
    var concurrency: Int = 64

    @Option(help: "W3: operations stored (half of them done), comma-separated.")
    var listSizes: String = "10000,1000000"

    @Option(help: "W3: concurrent callers, each walking the pages.")
    var listConcurrency: Int = 1

    @Option(help: "W5: events in the store (operations × 4: create, 2 progress, complete).")
    var restartEvents: Int = 10_000_000

    @Option(help: "W5: restarts timed with and without a snapshot.")
    var restarts: Int = 3

    @Option(help: "W7: concurrent WaitOperation callers.")
    var waiters: Int = 10_000

    @Option(help: "W7: client connections the waiters are spread over (default and minimum: one per 100 waiters).")
    var waitConnections: Int?

    @Option(help: "W7: what carries the calls: grpc-swift (its client, a task per waiter) or wire (HTTP/2 frames on the event loop, answers timed as they are read).")
    var waitClient: String = WaitClient.grpcSwift.rawValue

    @Option(help: "Keep the stores W3 and W5 build in this directory and reuse them in later runs.")
    var storeCache: String?

    @Option(help: "Soak: seconds between report lines.")
    var soakInterval: Int = 10

    @Option(help: "Soak: transitions per second to pace the producers to (default: as fast as answered). The producers are the largest --producers count.")
    var soakRate: Int?

    @Option(help: "Soak: write the report lines as CSV to this file (for Benchmarks/Scripts/plot-soak.py).")
    var soakCSV: String?

    func validate() throws {
        guard Self.workloads[workload] != nil || workload == "all" else { throw ValidationError("unknown workload \(workload); see --help") }
        guard seconds > 0, streamWindow > 0, operations > 0, concurrency > 0, listConcurrency > 0, restartEvents >= 4, restarts > 0, waiters > 0, soakInterval > 0, (soakRate ?? 1) > 0 else {
            throw ValidationError("counts and durations must be positive")
        }
        if let waitConnections, waitConnections * W7Wait.streamsPerConnection < waiters {
            throw ValidationError("--wait-connections: at least \((waiters + W7Wait.streamsPerConnection - 1) / W7Wait.streamsPerConnection) for \(waiters) waiters (\(W7Wait.streamsPerConnection) streams per connection: daemons before 2026-12-07 allowed no more)")
        }
        _ = try Self.counts(producers, "--producers")
        _ = try Self.counts(listSizes, "--list-sizes")
        _ = try Self.waitClient(waitClient)
    }

    static func waitClient(_ text: String) throws -> WaitClient {
        guard let client = WaitClient(rawValue: text) else {
            throw ValidationError("--wait-client: one of \(WaitClient.allCases.map(\.rawValue).joined(separator: ", ")), not \(text)")
        }
        return client
    }

    func run() async throws {
        let settings = Settings(
            longrund: longrund, seconds: seconds, producers: try Self.counts(producers, "--producers"),
            streamWindow: streamWindow, operations: operations, concurrency: concurrency,
            listSizes: try Self.counts(listSizes, "--list-sizes"), listConcurrency: listConcurrency,
            restartEvents: restartEvents, restarts: restarts, waiters: waiters, waitConnections: waitConnections,
            waitClient: try Self.waitClient(waitClient), storeCache: storeCache, soakInterval: soakInterval, soakRate: soakRate, soakCSV: soakCSV
        )
        OpenFileLimit.raiseToHardLimit()  // W7 opens many connections
        say("longrun-load: \(ProcessInfo.processInfo.activeProcessorCount) processors, load average \(loadAverage() ?? ""), longrund \(longrund)")
        var result = RunResult(secondsPerMeasurement: seconds)
        let names = workload == "all" ? Self.order : [Self.workloads[workload]!]
        for name in names {
            try await Self.run(name, settings: settings, into: &result)
            if let json { try result.write(to: json) }
            say("")
        }
    }

    static let order = ["w1", "w2", "w3", "w5", "w7"]
    static let workloads = ["w1": "w1", "w2": "w2", "get": "w2", "w3": "w3", "w5": "w5", "w7": "w7", "soak": "soak"]

    static func run(_ name: String, settings: Settings, into result: inout RunResult) async throws {
        switch name {
        case "w1": result.w1 = try await W1Lifecycle(settings: settings).run()
        case "w2": result.w2 = try await W2Get(settings: settings).run()
        case "w3": result.w3 = try await W3List(settings: settings).run()
        case "w5": result.w5 = try await W5Restart(settings: settings).run()
        case "w7": result.w7 = try await W7Wait(settings: settings).run()
        case "soak": result.soak = try await Soak(settings: settings).run()
        default: preconditionFailure("unknown workload \(name)")
        }
    }

    static func counts(_ text: String, _ flag: String) throws -> [Int] {
        let values = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.count == text.split(separator: ",").count, values.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("\(flag): positive counts separated by commas, e.g. 1,16,64")
        }
        return values
    }
}
