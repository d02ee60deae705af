import ArgumentParser
import Foundation
import Logging
import LongrunDomain
import LongrunEngine
import LongrunStore

/// Builds a store of N events in-process, then measures what recovery and audit cost on it:
/// rebuilding the views from the log (events/s), reopening it, taking and verifying a snapshot,
/// rebuilding from that snapshot, and verifying the whole store. Prints a table and JSON.
@main
struct StoreFigures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store-figures")

    @Option(help: "Events to generate (operations × 4: create, 2 progress, complete).")
    var events: Int = 1_000_000

    @Option(help: "Directory to build the store in (default: a temporary one, removed afterwards).")
    var directory: String?

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    func run() async throws {
        var logger = Logger(label: "store-figures")
        logger.logLevel = .warning
        let base = directory ?? NSTemporaryDirectory() + "longrun-figures-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: base) } }
        var figures: [(String, String)] = []
        func record(_ name: String, _ value: String) {
            figures.append((name, value))
            print("\(name): \(value)")
        }

        // Generate: 64 concurrent producers through the group-commit writer, relaxed durability.
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .relaxed(syncInterval: .seconds(1))
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        let data = base + "/data"
        let operations = events / 4
        var started = ContinuousClock.now
        do {
            let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
            let actor = Actor(label: "figures")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<64 {
                    group.addTask {
                        var index = producer
                        while index < operations {
                            let op = try await engine.create(CreateRequest(id: "op-\(index)", metadata: Payload(typeURL: "type.googleapis.com/figures.M", value: Array("queued".utf8))), actor: actor)
                            for step in 0..<2 {
                                _ = try await engine.progress(op.name, metadata: Payload(typeURL: "type.googleapis.com/figures.M", value: Array("step \(step)".utf8)), actor: actor)
                            }
                            _ = try await engine.complete(op.name, outcome: .response(Payload(typeURL: "type.googleapis.com/figures.R", value: Array("done".utf8))), actor: actor)
                            index += 64
                        }
                    }
                }
                try await group.waitForAll()
            }
            engine.close()
        }
        let generated = ContinuousClock.now - started
        record("generate \(operations * 4) events (64 producers, relaxed)", "\(Self.seconds(generated)) s, \(Self.rate(operations * 4, generated)) events/s")
        record("data file", Self.megabytes(Self.size(of: data + "/data.mdb")))

        let store = try Store(directory: data, logger: logger)
        let head = try store.read { try $0.logHead() }

        // Reopen: what a restart costs before the first request can be served.
        started = ContinuousClock.now
        do {
            let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
            _ = try engine.get(try OperationName(parsing: "operations/op-0"))
            engine.close()
        }
        record("reopen engine and serve one Get (\(head) events)", "\(Self.milliseconds(ContinuousClock.now - started)) ms")

        // Replay: fold the whole log into fresh views in a new directory.
        started = ContinuousClock.now
        _ = try Store.rebuild(from: store, into: base + "/rebuilt", logger: logger)
        let replay = ContinuousClock.now - started
        record("rebuild views from the log", "\(Self.seconds(replay)) s, \(Self.rate(Int(head), replay)) events/s")

        // Snapshot: write, size, verify, and rebuild from it (replays nothing after it).
        started = ContinuousClock.now
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 0)
        record("snapshot write", "\(Self.seconds(ContinuousClock.now - started)) s, \(Self.megabytes(Int(snapshot.sizeBytes)))")
        started = ContinuousClock.now
        do {
            let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
            _ = try engine.get(try OperationName(parsing: "operations/op-0"))
            engine.close()
        }
        record("reopen engine and serve one Get, snapshot at the head", "\(Self.milliseconds(ContinuousClock.now - started)) ms")
        started = ContinuousClock.now
        _ = try SnapshotFile.verify(snapshot.path)
        record("snapshot verify", "\(Self.seconds(ContinuousClock.now - started)) s")
        started = ContinuousClock.now
        _ = try Store.rebuild(from: store, into: base + "/from-snapshot", snapshot: snapshot, logger: logger)
        record("rebuild from the snapshot (copies the log, folds nothing)", "\(Self.seconds(ContinuousClock.now - started)) s")

        // Verify: chain over the whole log, rebuild into scratch, compare digests.
        started = ContinuousClock.now
        let report = try store.verify(scratchDirectory: base + "/scratch", logger: logger)
        record("verify (chain + rebuild + digests)", "\(Self.seconds(ContinuousClock.now - started)) s, healthy: \(report.isHealthy)")
        started = ContinuousClock.now
        _ = try store.verifyLog()
        record("verify the log's chain only", "\(Self.seconds(ContinuousClock.now - started)) s, \(Self.rate(Int(head), ContinuousClock.now - started)) events/s")

        if let json {
            let body = figures.map { "\"\($0.0)\": \"\($0.1)\"" }.joined(separator: ",\n  ")
            try "{\n  \(body)\n}\n".write(toFile: json, atomically: true, encoding: .utf8)
        }
    }

    static func size(of path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    static func seconds(_ duration: Duration) -> String { String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) }
    static func milliseconds(_ duration: Duration) -> String { String(format: "%.1f", (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) * 1000) }
    static func rate(_ count: Int, _ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.0f", Double(count) / seconds)
    }
    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
