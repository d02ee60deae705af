import BenchmarkSupport
import Foundation
import Logging
import LongrunDomain
import LongrunEngine
import LongrunStore

/// What recovery and audit cost on a store of N events written by 64 concurrent producers through
/// the engine: rebuilding the views into a new directory (copy and chain-check the log, fold it),
/// reopening, taking and verifying a snapshot, rebuilding from that snapshot, verifying the whole
/// store. (The figures store-figures printed before the workloads were added.)
struct RecoveryWorkload {
    let events: Int
    let scratch: String
    let logger: Logger
    let report: Report

    func run() async throws {
        let base = scratch + "/recovery"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }

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
        report.add("recovery", "recovery.generate_events_per_s", "generate \(operations * 4) events (64 producers, engine, relaxed)", Double(operations * 4) / generated.seconds, "events/s")
        report.add("recovery", "recovery.data_file_mib", "data file", Double(Self.size(of: data + "/data.mdb")) / 1_048_576, "MiB")

        let store = try Store(directory: data, logger: logger)
        let head = try store.read { try $0.logHead() }

        // Reopen: what a restart costs before the first request can be served.
        started = ContinuousClock.now
        do {
            let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
            _ = try await engine.get(try OperationName(parsing: "operations/op-0"))
            engine.close()
        }
        report.add("recovery", "recovery.reopen_ms", "reopen engine and serve one Get (\(head) events, no snapshot)", (ContinuousClock.now - started).seconds * 1000, "ms")

        // Replay into a new directory: copy and chain-check the log, fold it into fresh views.
        started = ContinuousClock.now
        _ = try Store.rebuild(from: store, into: base + "/rebuilt", logger: logger)
        let replay = ContinuousClock.now - started
        report.add("recovery", "recovery.rebuild_events_per_s", "rebuild into a new directory (copy + chain check + fold)", Double(head) / replay.seconds, "events/s")

        // Snapshot: write, size, verify, and rebuild from it (replays nothing after it).
        started = ContinuousClock.now
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 0)
        report.add("recovery", "recovery.snapshot_write_s", "snapshot write", (ContinuousClock.now - started).seconds, "s")
        report.add("recovery", "recovery.snapshot_mib", "snapshot size", Double(snapshot.sizeBytes) / 1_048_576, "MiB")
        started = ContinuousClock.now
        do {
            let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
            _ = try await engine.get(try OperationName(parsing: "operations/op-0"))
            engine.close()
        }
        report.add("recovery", "recovery.reopen_with_snapshot_ms", "reopen engine and serve one Get, snapshot at the head", (ContinuousClock.now - started).seconds * 1000, "ms")
        started = ContinuousClock.now
        _ = try SnapshotFile.verify(snapshot.path)
        report.add("recovery", "recovery.snapshot_verify_s", "snapshot verify", (ContinuousClock.now - started).seconds, "s")
        started = ContinuousClock.now
        _ = try Store.rebuild(from: store, into: base + "/from-snapshot", snapshot: snapshot, logger: logger)
        report.add("recovery", "recovery.rebuild_from_snapshot_s", "rebuild from the snapshot (copies the log, folds nothing)", (ContinuousClock.now - started).seconds, "s")

        // Verify: chain over the whole log, rebuild into scratch, compare digests.
        started = ContinuousClock.now
        let verification = try store.verify(scratchDirectory: base + "/scratch", logger: logger)
        report.add("recovery", "recovery.verify_s", "verify (chain + rebuild + digests)", (ContinuousClock.now - started).seconds, "s")
        if !verification.isHealthy { report.note("verify found the store unhealthy") }
        started = ContinuousClock.now
        _ = try store.verifyLog()
        report.add("recovery", "recovery.chain_check_events_per_s", "verify the log's chain only", Double(head) / (ContinuousClock.now - started).seconds, "events/s")
    }

    static func size(of path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
