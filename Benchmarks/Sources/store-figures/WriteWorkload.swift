import BenchmarkSupport
import Foundation
import LMDB
import Logging
import LongrunDomain
import LongrunEngine
import LongrunStore

/// W6: durable transitions per second through the embedded engine (group-commit writer, `full`
/// durability, 64 concurrent tasks each creating and completing operations), against raw LMDB
/// appends in the same run: records the size of the engine's log entries, committed (with
/// LMDB's fsync) in batches as large as the engine's observed transitions per commit. The two
/// alternate for `rounds` rounds, each ratio taken within its round: this disk's flushes vary by
/// a third between minutes, and the raw baseline, two flushes per commit, varies with them.
///
/// With a `warmup`, each store (the engine's and the baseline's) is first written that long,
/// unmeasured: a new store's first seconds are its growth (LMDB's file grows until the pages a
/// checkpoint leaves free come round again), which costs the engine more than the baseline.
struct WriteWorkload {
    let duration: Duration
    let warmup: Duration
    let tasks: Int
    let rounds: Int
    let scratch: String
    let logger: Logger
    let report: Report

    static let response = Payload(typeURL: "type.googleapis.com/figures.R", value: Array("done".utf8))

    func run() async throws {
        let size = Self.logEntrySize()
        var rounds: [(engine: EngineRun, raw: RawRun, batch: Int)] = []
        for round in 1...max(1, self.rounds) {
            let engine = try await runEngine()
            let batch = max(1, Int((engine.transitionsPerCommit).rounded()))
            let raw = try runRawAppends(batch: batch, valueSize: size)
            rounds.append((engine, raw, batch))
            print("  round \(round): engine \(Report.format(engine.rate))/s at \(Report.format(engine.transitionsPerCommit)) per commit, "
                  + "raw \(Report.format(raw.rate))/s: \(Report.format(engine.rate / raw.rate))×")
        }
        let ratios = rounds.map { $0.engine.rate / $0.raw.rate }
        let latencies = rounds.reduce(into: Latencies()) { $0.append(contentsOf: $1.engine.latencies) }
        let batch = Self.median(rounds.map { Double($0.batch) })
        let warmed = warmup > .zero ? ", each store written \(Report.format(warmup.seconds)) s first" : ""
        let range = rounds.count > 1 ? ", \(rounds.count) rounds: \(Report.format(ratios.min()!))–\(Report.format(ratios.max()!))" : ""
        report.add("W6", "w6.engine_transitions_per_s", "engine, full durability, \(tasks) tasks\(warmed): transitions/s (median of rounds)",
                   Self.median(rounds.map(\.engine.rate)), "/s")
        report.add("W6", "w6.engine_transitions_per_commit", "engine: transitions per commit (median of rounds)",
                   Self.median(rounds.map(\.engine.transitionsPerCommit)), "")
        report.add("W6", "w6.engine_latency_p50_us", "engine: transition latency p50", latencies.microseconds(atQuantile: 0.5), "µs")
        report.add("W6", "w6.engine_latency_p99_us", "engine: transition latency p99", latencies.microseconds(atQuantile: 0.99), "µs")
        report.add("W6", "w6.raw_appends_per_s", "raw LMDB appends, \(size) B records, \(Report.format(batch)) per fsynced commit: records/s (median of rounds)",
                   Self.median(rounds.map(\.raw.rate)), "/s")
        report.add("W6", "w6.raw_commits_per_s", "raw LMDB: commits/s (median of rounds)", Self.median(rounds.map(\.raw.commitsPerSecond)), "/s")
        report.add("W6", "w6.engine_over_raw", "engine transitions/s over raw appends/s\(warmed), each round's own (median\(range))",
                   Self.median(ratios), "×", target: .atLeast(0.5))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    struct EngineRun {
        var rate: Double
        var transitionsPerCommit: Double
        var latencies: Latencies
    }

    private func runEngine() async throws -> EngineRun {
        let data = scratch + "/w6-engine"
        try? FileManager.default.removeItem(atPath: data)
        defer { try? FileManager.default.removeItem(atPath: data) }
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .full
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
        defer { engine.close() }
        if warmup > .zero { _ = try await drive(engine, for: warmup, prefix: "warm") }
        let before = engine.writerStatistics
        let started = ContinuousClock.now
        let latencies = try await drive(engine, for: duration, prefix: "w")
        let elapsed = ContinuousClock.now - started
        let after = engine.writerStatistics
        let transitions = Double(after.transitions - before.transitions)
        let commits = Double(max(1, after.commits - before.commits))
        return EngineRun(rate: transitions / elapsed.seconds, transitionsPerCommit: transitions / commits, latencies: latencies)
    }

    /// `tasks` tasks creating and completing operations (`<prefix><task>-<n>`) for `duration`;
    /// the latency of each call.
    private func drive(_ engine: LongrunEngine, for duration: Duration, prefix: String) async throws -> Latencies {
        let actor = Actor(label: "figures")
        let deadline = ContinuousClock.now + duration
        return try await withThrowingTaskGroup(of: Latencies.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var latencies = Latencies()
                    var index = 0
                    while ContinuousClock.now < deadline {
                        var begun = ContinuousClock.now
                        let op = try await engine.create(CreateRequest(id: "\(prefix)\(task)-\(index)"), actor: actor)
                        latencies.append(ContinuousClock.now - begun)
                        begun = ContinuousClock.now
                        _ = try await engine.complete(op.name, outcome: .response(Self.response), actor: actor)
                        latencies.append(ContinuousClock.now - begun)
                        index += 1
                    }
                    return latencies
                }
            }
            var all = Latencies()
            for try await latencies in group { all.append(contentsOf: latencies) }
            return all
        }
    }

    /// The mean size of the log values the engine wrote above: chain hash and `LogRecord` of a
    /// create and of a completion, with names, times and sequences of the same magnitude.
    static func logEntrySize() -> Int {
        let name = try! OperationName(parsing: "operations/w63-12345")
        let time = Timestamp(nanosecondsSinceEpoch: 1_795_000_000_000_000_000)
        let actor = Actor(label: "figures")
        let created = Event(sequence: 1_000_000, time: time, name: name, actor: actor, kind: .created(Event.Created()))
        let completed = Event(sequence: 1_000_001, time: time, name: name, actor: actor, kind: .completed(.response(response)))
        let records = [RecordCodec.encode(created).count, RecordCodec.encode(completed).count]
        return ChainHash.byteCount + records.reduce(0, +) / records.count
    }

    struct RawRun {
        var rate: Double
        var commitsPerSecond: Double
    }

    /// Appends under increasing big-endian sequence keys, `batch` per write transaction, with the
    /// `LMDB` product's default (durable) environment: one fsync per commit.
    private func runRawAppends(batch: Int, valueSize: Int) throws -> RawRun {
        let path = scratch + "/w6-raw"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try {
            let environment = try Environment(configuration: Environment.Configuration(path: path))
            let log = try environment.openDatabase("log")
            var value = [UInt8](repeating: 0, count: valueSize)
            for index in value.indices { value[index] = UInt8(truncatingIfNeeded: index &* 31) }
            var sequence: UInt64 = 0
            /// Commits `batch` appends at a time until `deadline`; the number of commits.
            func append(until deadline: ContinuousClock.Instant) throws -> Int {
                var commits = 0
                while ContinuousClock.now < deadline {
                    let first = sequence
                    try environment.write { txn in
                        for offset in 1...UInt64(batch) {
                            try withUnsafeBytes(of: (first + offset).bigEndian) { key in
                                try value.withUnsafeBytes { value in try txn.put(log, key: key, value: value, mode: .append) }
                            }
                        }
                    }
                    sequence = first + UInt64(batch)
                    commits += 1
                }
                return commits
            }
            if warmup > .zero { _ = try append(until: ContinuousClock.now + warmup) }
            let warmed = sequence
            let started = ContinuousClock.now
            let commits = try append(until: started + duration)
            let elapsed = ContinuousClock.now - started
            return RawRun(rate: Double(sequence - warmed) / elapsed.seconds, commitsPerSecond: Double(commits) / elapsed.seconds)
        }()
    }
}
