import BenchmarkSupport
import Foundation
import GRPCCore
import LMDB
import LongrunProto
import LongrunStore

/// W1: C producers each take operations through create → 3 progress → complete (five durable
/// transitions each) against a daemon at durability `full`, once with unary RPCs and once with one
/// pipelined StreamTransitions stream per producer. Baseline: raw LMDB appends of records the size
/// of the daemon's log entries, in batches of the daemon's observed transitions per commit, one
/// fsync per commit, measured in the same run.
struct W1Result: Codable, Sendable {
    struct Run: Codable, Sendable {
        var path: String
        var producers: Int
        var streamWindow: Int?
        var seconds: Double
        var transitions: Int
        var transitionsPerSecond: Double
        var latency: LatencySummary
        /// Write transactions the daemon committed during the run (from LMDB's last transaction id).
        var commits: Int
        var transitionsPerCommit: Double
        var averageLogEntryBytes: Int
        var daemon: ProcessCost
        var rawLMDB: RawAppendResult
        /// Daemon transitions/s ÷ raw LMDB appends/s.
        var ratioToRawLMDB: Double
    }

    var runs: [Run] = []
    var target = "≥ 24,000 durable transitions/s at C=64 streaming"
}

struct W1Lifecycle {
    let settings: Settings

    func run() async throws -> W1Result {
        say("W1 lifecycle: create → 3 progress → complete, durability full, \(settings.seconds) s per run")
        var result = W1Result()
        for path in ["unary", "stream"] {
            for producers in settings.producers {
                let run = try await measure(path: path, producers: producers)
                result.runs.append(run)
                say("""
                      \(path) C=\(producers)\(run.streamWindow.map { " window \($0)" } ?? ""): \(Format.rate(run.transitionsPerSecond)) transitions/s, \
                    latency \(run.latency.text); \(Format.fixed(run.transitionsPerCommit, 1)) per commit (\(Format.rate(Double(run.commits) / run.seconds)) commits/s), log entry \(run.averageLogEntryBytes) B
                        raw LMDB (batch \(run.rawLMDB.batch), \(run.rawLMDB.recordBytes) B, fsync per commit): \(Format.rate(run.rawLMDB.recordsPerSecond)) appends/s \
                    (\(Format.rate(Double(run.rawLMDB.commits) / run.rawLMDB.seconds)) commits/s) → ratio \(Format.percent(run.ratioToRawLMDB))
                        daemon \(run.daemon.text)
                    """)
            }
        }
        if let streaming64 = result.runs.last(where: { $0.path == "stream" && $0.producers == 64 }) {
            say("  C=64 streaming: \(Format.rate(streaming64.transitionsPerSecond)) durable transitions/s (target ≥ 24,000)")
        }
        return result
    }

    private func measure(path: String, producers: Int) async throws -> W1Result.Run {
        let daemon = try Daemon.start(binary: settings.longrund)
        defer { daemon.stop() }
        let seconds = settings.seconds
        let window = settings.streamWindow
        let store = try DaemonStoreProbe(dataDirectory: daemon.dataDirectory)
        let (outcome, cost, commits, transitions) = try await Connection.with(socket: daemon.socket) { connection in
            let appliedBefore = try await connection.admin.getServerInfo(.init()).appliedSequence
            let commitsBefore = store.lastTransactionID()
            let meter = CostMeter(daemon.server)
            let outcome: ClosedLoop.Outcome = path == "unary"
                ? try await Self.unary(connection.producers, producers: producers, seconds: seconds)
                : try await Self.streaming(connection.producers, producers: producers, window: window, seconds: seconds)
            let cost = meter.finish(seconds: outcome.seconds)
            let commits = store.lastTransactionID() - commitsBefore
            let applied = try await connection.admin.getServerInfo(.init()).appliedSequence
            return (outcome, cost, commits, Int(applied - appliedBefore))
        }
        guard transitions == outcome.latencies.count else {
            throw RPCError(code: .internalError, message: "the daemon applied \(transitions) events, the producers were answered \(outcome.latencies.count) times")
        }
        let perCommit = commits > 0 ? Double(transitions) / Double(commits) : 0
        let entryBytes = try store.averageLogEntryBytes(last: 10_000)
        let raw = try RawLMDBAppends.run(batch: max(1, Int(perCommit.rounded())), recordBytes: entryBytes, seconds: seconds)
        let perSecond = Double(transitions) / outcome.seconds
        return W1Result.Run(
            path: path, producers: producers, streamWindow: path == "stream" ? window : nil,
            seconds: outcome.seconds, transitions: transitions, transitionsPerSecond: perSecond,
            latency: LatencySummary(outcome.latencies), commits: commits, transitionsPerCommit: perCommit,
            averageLogEntryBytes: entryBytes, daemon: cost, rawLMDB: raw, ratioToRawLMDB: perSecond / raw.recordsPerSecond
        )
    }

    /// Each producer: unary CreateOperation, three UpdateOperation, CompleteOperation, repeated;
    /// one latency per call.
    static func unary(_ client: Longrun_V1_Producers.Client<Transport>, producers: Int, seconds: Int) async throws -> ClosedLoop.Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(seconds)
        let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var latencies: [Int64] = []
                    var index = 0
                    func timed(_ call: () async throws -> Void) async throws {
                        let before = clock.now
                        try await call()
                        latencies.append((clock.now - before).microseconds)
                    }
                    while clock.now < end {
                        let id = "u\(producer)-\(index)", name = "operations/u\(producer)-\(index)"
                        try await timed { _ = try await client.createOperation(Requests.create(id: id)) }
                        for _ in 0..<3 { try await timed { _ = try await client.updateOperation(Requests.update(name: name)) } }
                        try await timed { _ = try await client.completeOperation(Requests.complete(name: name)) }
                        index += 1
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return ClosedLoop.Outcome(latencies: latencies, seconds: (clock.now - start).seconds)
    }

    /// Each producer keeps one stream open and pipelines its operations' transitions, at most
    /// `window` unanswered; one latency (send to acknowledgement) per transition.
    static func streaming(_ client: Longrun_V1_Producers.Client<Transport>, producers: Int, window: Int, seconds: Int) async throws -> ClosedLoop.Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(seconds)
        let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for producer in 0..<producers {
                group.addTask {
                    try await PipelinedStream.run(client, window: window) { tag in
                        let (operation, step) = (tag / 5, Int(tag % 5))
                        // Only whole operations: the deadline is checked before each create.
                        if step == 0 && clock.now >= end { return nil }
                        return Requests.lifecycle(id: "s\(producer)-\(operation)", step: step)
                    }.latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return ClosedLoop.Outcome(latencies: latencies, seconds: (clock.now - start).seconds)
    }
}

/// Reads a running daemon's LMDB environment from this process, read-only: the last committed
/// transaction id (to count the daemon's commits) and the size of its log entries.
final class DaemonStoreProbe {
    private let environment: Environment

    init(dataDirectory: String) throws {
        var configuration = Environment.Configuration(path: dataDirectory)
        configuration.readOnly = true
        // Mapped at the daemon's largest map, as `longrun-replay` maps a live store: the daemon
        // grows its map as the store grows, and a smaller map here then fails the next
        // transaction this opens (MDB_MAP_RESIZED, which ended W1 in one of two runs on a new
        // store before the streaming half).
        configuration.initialMapSize = Store.Configuration().maximumMapSize
        environment = try Environment(configuration: configuration)
    }

    func lastTransactionID() -> Int { environment.info.lastTransactionID }

    /// Mean value size of the newest `last` entries of the `log` database.
    func averageLogEntryBytes(last: Int) throws -> Int {
        let log = try environment.openDatabase("log", create: false)
        return try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var (count, bytes) = (0, 0)
                var entry = try cursor.last()
                while let (_, value) = entry, count < last {
                    count += 1
                    bytes += value.count
                    entry = try cursor.previous()
                }
                return count > 0 ? bytes / count : 0
            }
        }
    }
}

struct RawAppendResult: Codable, Sendable {
    var batch: Int
    var recordBytes: Int
    var records: Int
    var commits: Int
    var seconds: Double
    var recordsPerSecond: Double
}

/// The W1 baseline: appends to one LMDB database, `batch` records per write transaction, each
/// commit durable (default environment flags: fsync at commit), in this process. Half a second of
/// appends first, uncounted, so that the new file's first growth is not measured.
enum RawLMDBAppends {
    static func run(batch: Int, recordBytes: Int, seconds: Int) throws -> RawAppendResult {
        let directory = try Scratch.make("raw-lmdb")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var log = try Log(directory: directory, recordBytes: recordBytes)
        let clock = ContinuousClock()
        let warmUp = clock.now + .milliseconds(500)
        while clock.now < warmUp { try log.commit(batch) }
        let (sequenceBefore, commitsBefore) = (log.sequence, log.commits)
        let start = clock.now
        let end = start + .seconds(seconds)
        while clock.now < end { try log.commit(batch) }
        let elapsed = (clock.now - start).seconds
        let records = Int(log.sequence - sequenceBefore)
        return RawAppendResult(batch: batch, recordBytes: recordBytes, records: records, commits: log.commits - commitsBefore,
                               seconds: elapsed, recordsPerSecond: Double(records) / elapsed)
    }

    private struct Log {
        let environment: Environment
        let database: Database
        let value: [UInt8]
        var sequence: UInt64 = 0
        var commits = 0

        init(directory: String, recordBytes: Int) throws {
            environment = try Environment(configuration: Environment.Configuration(path: directory))
            database = try environment.openDatabase("log")
            var random = SystemRandomNumberGenerator()
            value = (0..<recordBytes).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        }

        /// Appends `batch` records (keys: the next sequences, big-endian) in one transaction.
        mutating func commit(_ batch: Int) throws {
            // The closure may run again if the map grows, so it derives its keys from `first`.
            let (first, database, value) = (sequence, database, value)
            try environment.write { txn in
                for offset in 1...UInt64(batch) {
                    try txn.put(database, key: withUnsafeBytes(of: (first + offset).bigEndian, Array.init), value: value, mode: .append)
                }
            }
            sequence += UInt64(batch)
            commits += 1
        }
    }
}
