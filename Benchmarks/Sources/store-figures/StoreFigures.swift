import ArgumentParser
import Foundation
import Logging

/// The in-process workloads: the store and the embedded engine measured without the socket, each
/// against a baseline measured in the same run. Prints a table and writes every figure as JSON.
@main
struct StoreFigures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-figures",
        abstract: "Runs the in-process workloads (List, Get, replay, durable writes, recovery, payload filters) with their same-run baselines.",
        discussion: """
            Workloads: w3 (List pages of 100 with done = false on stores of --list-sizes operations), get \
            (Get by random name), w4 (rebuild views from a log of --replay-events events, against a raw LMDB \
            scan and a decode-only pass), w6 (durable transitions through the engine with 64 tasks, against \
            raw LMDB appends in the engine's batch size), recovery (replay into a new directory, reopen, \
            snapshots, verify on --events events written through the engine), payload (List pages of 100 \
            with metadata.percent_done > 50, which reads inside each candidate's metadata, against done = true, \
            which matches as many, on --payload-operations operations).

            The defaults are quick. The full figures: --replay-events 10000000 --store-cache DIR (the 10M-event \
            store takes a few minutes to build once; reruns reuse it).
            """
    )

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case w3, get, w4, w6, recovery, payload
    }

    @Option(name: .customLong("workload"), help: "A workload to run (repeat for several): w3, get, w4, w6, recovery, payload. Default: w3, get, w4, w6.")
    var workloads: [Workload] = [.w3, .get, .w4, .w6]

    @Option(help: "W3: operations stored, comma-separated (half of them done); the ratio is largest over smallest.")
    var listSizes: String = "10000,1000000"

    @Option(help: "W3: pages measured per store (after up to 1000 warm-up pages).")
    var listPages: Int = 5000

    @Option(help: "W3: the stored operations' names: sequential (operations/op-N, in creation order but for the digits' count) or random (operations/r and 16 hex digits of a hash of N: no order), interleaved (tenants/tK/operations/op-N in 8 collections taken in turn; the pages list tenants/t0), merged (that store, the pages listing tenants/-), merged1000 (as merged, over 1000 collections), merged9000 (9,025 collections holding 95% of the records among 9,525, listed through projects/-), sparse500 (the other 500, holding 5%, through tenants/-) or oldest-done (as sequential, the older half done and the newer half running, as operations completed in about the order they were created leave them; the others have every other operation done).")
    var listNames: ListWorkload.Names = .sequential

    @Option(help: "Payload: operations stored (half done, typed metadata) for List pages with a metadata filter.")
    var payloadOperations: Int = 1_000_000

    @Option(help: "Payload: pages measured per filter (after up to 1000 warm-up pages).")
    var payloadPages: Int = 5000

    @Option(help: "Get: operations stored (half done).")
    var getOperations: Int = 1_000_000

    @Option(help: "Get: Gets measured.")
    var gets: Int = 100_000

    @Option(help: "W4: events in the log to replay (operations × 4: create, 2 progress, complete).")
    var replayEvents: Int = 1_000_000

    @Option(help: "W6: seconds for the engine, and as many for the raw LMDB baseline.")
    var writeSeconds: Int = 5

    @Option(help: "W6: seconds each store (the engine's, the baseline's) is written before it is measured: 0 measures a new store's first seconds, its growth included.")
    var writeWarmup: Int = 0

    @Option(help: "W6: concurrent tasks.")
    var writeTasks: Int = 64

    @Option(help: "W6: rounds of the engine then the raw baseline, alternated; the ratio is the median of each round's own.")
    var writeRounds: Int = 3

    @Option(help: "Recovery: events to generate through the engine.")
    var events: Int = 1_000_000

    @Option(help: "Keep the stores W3, Get and W4 read in this directory and reuse them on later runs.")
    var storeCache: String?

    @Option(help: "Scratch directory (default: a temporary one, removed afterwards).")
    var directory: String?

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    func run() async throws {
        var logger = Logger(label: "store-figures")
        logger.logLevel = .warning
        let scratch = directory ?? NSTemporaryDirectory() + "longrun-figures-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: scratch) } }
        let report = Report()
        let builder = StoreBuilder(root: storeCache ?? scratch + "/stores", logger: logger, report: report)
        let sizes = try listSizes.split(separator: ",").map { text in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size > 0 else { throw ValidationError("--list-sizes takes positive integers separated by commas") }
            return size
        }
        guard writeWarmup >= 0 else { throw ValidationError("--write-warmup takes seconds, 0 or more") }

        for workload in Workload.allCases where workloads.contains(workload) {
            print("\(workload.rawValue):")
            switch workload {
            case .w3:
                try await ListWorkload(sizes: sizes, pages: listPages, names: listNames, builder: builder, logger: logger, report: report).run()
            case .get:
                try await GetWorkload(operations: getOperations, gets: gets, builder: builder, logger: logger, report: report).run()
            case .w4:
                try ReplayWorkload(events: replayEvents, builder: builder, logger: logger, report: report).run()
            case .w6:
                try await WriteWorkload(duration: .seconds(writeSeconds), warmup: .seconds(writeWarmup), tasks: writeTasks, rounds: writeRounds, scratch: scratch, logger: logger, report: report).run()
            case .recovery:
                try await RecoveryWorkload(events: events, scratch: scratch, logger: logger, report: report).run()
            case .payload:
                try await PayloadFilterWorkload(operations: payloadOperations, pages: payloadPages, builder: builder, logger: logger, report: report).run()
            }
        }
        if storeCache == nil, !workloads.allSatisfy({ $0 == .w6 || $0 == .recovery }) {
            report.note("stores were built for this run and removed; --store-cache keeps them")
        }
        report.printTable()
        if let json {
            try report.writeJSON(to: json, options: [
                "workloads": workloads.map(\.rawValue).joined(separator: ","), "list_sizes": listSizes, "list_pages": "\(listPages)", "list_names": listNames.rawValue,
                "get_operations": "\(getOperations)", "gets": "\(gets)", "replay_events": "\(replayEvents)",
                "write_seconds": "\(writeSeconds)", "write_warmup_seconds": "\(writeWarmup)", "write_tasks": "\(writeTasks)", "events": "\(events)",
                "payload_operations": "\(payloadOperations)", "payload_pages": "\(payloadPages)",
                "store_cache": storeCache ?? "",
            ])
            print("wrote \(json)")
        }
    }
}
