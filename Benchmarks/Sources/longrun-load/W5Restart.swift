import BenchmarkSupport
import Foundation
import GRPCCore
import LongrunProto
import SwiftProtobuf

/// W5: on a store of N events (pre-built in-process, cached with --store-cache), the time from
/// starting longrund to the first GetOperation it serves, polling its socket as fast as possible;
/// without any snapshot and with a snapshot at the head taken through Admin.TakeSnapshot. Without
/// a snapshot, the first start of a freshly built store checks the whole log's chain and records
/// the checkpoint; every restart after checks only the log written since (none here). Scheduled snapshots are off in both, so that the
/// daemon does not start writing one while it is timed, and the cached store stays as built.
struct W5Result: Codable, Sendable {
    struct Restart: Codable, Sendable {
        /// From launch to the socket accepting connections.
        var listeningMilliseconds: Double
        /// From launch to the first GetOperation answered (connection set-up included).
        var firstGetMilliseconds: Double
        /// Then, for reference: a GetOperation on another new connection to the running daemon
        /// (the client's connection set-up plus one request).
        var freshConnectionGetMilliseconds: Double
    }

    struct Variant: Codable, Sendable {
        var restarts: [Restart]
        var medianFirstGetMilliseconds: Double
        var minFirstGetMilliseconds: Double
    }

    var events: Int
    /// The first start of the run, without a snapshot: on a freshly built store, the whole chain's
    /// check (which then records the checkpoint); on a cached one already started, a restart.
    var firstStart: Restart
    var withoutSnapshot: Variant
    var snapshotAtHead: Variant
    var snapshotSequence: UInt64
    var snapshotBytes: UInt64
    var snapshotSeconds: Double?
    var target = "≤ 100 ms from process start to the first served GetOperation"
}

struct W5Restart {
    let settings: Settings
    static let daemonArguments = ["--snapshot-log-ratio", "0", "--snapshot-every", "0", "--snapshot-interval", "0s"]

    func run() async throws -> W5Result {
        let events = settings.restartEvents
        say("W5 restart: \(events) events stored, time from launch to the first GetOperation served, \(settings.restarts) restarts each")
        let recipe = StoreBuilder.Recipe(name: "w5-\(events)", operations: events / 4, progressSteps: 2, isDone: { _ in true }, snapshotAtHead: false)
        let builder = StoreBuilder(cache: settings.storeCache)
        let data = try await builder.dataDirectory(for: recipe)
        defer { builder.discard(data) }
        let snapshots = data + "/snapshots"
        let aside = (data as NSString).deletingLastPathComponent + "/snapshots-aside"
        let files = FileManager.default

        // Without a snapshot: keep any snapshot of an earlier run aside for the second half.
        if files.fileExists(atPath: snapshots) {
            try? files.removeItem(atPath: aside)
            try files.moveItem(atPath: snapshots, toPath: aside)
        }
        let first = try await restart(data: data)
        say("  no snapshot, first start: first GetOperation after \(Format.fixed(first.firstGetMilliseconds, 1)) ms")
        let without = try await restarts(data: data)
        say("  no snapshot, restarts: first GetOperation after \(Self.text(without))")

        // With a snapshot at the head: the one set aside, or one taken now through the Admin RPC
        // (which returns the newest snapshot at once when it is already at the head).
        let reused = files.fileExists(atPath: aside)
        if reused { try files.moveItem(atPath: aside, toPath: snapshots) }
        let daemon = try Daemon.start(binary: settings.longrund, dataDirectory: data, arguments: Self.daemonArguments, startTimeout: .seconds(600))
        let snapshot = try await Connection.with(socket: daemon.socket) { connection in
            let started = ContinuousClock.now
            let snapshot = try await connection.admin.takeSnapshot(.init())
            let info = try await connection.admin.getServerInfo(.init())
            return (snapshot, (ContinuousClock.now - started).seconds, info.appliedSequence)
        }
        daemon.stop()
        guard snapshot.0.sequence == snapshot.2 else {
            throw RPCError(code: .internalError, message: "the snapshot is at \(snapshot.0.sequence), the head at \(snapshot.2)")
        }
        let snapshotSeconds = reused ? nil : snapshot.1
        say("  snapshot at the head: sequence \(snapshot.0.sequence), \(snapshot.0.sizeBytes >> 20) MiB\(snapshotSeconds.map { ", written in \(Format.fixed($0, 1)) s" } ?? "")")
        let with = try await restarts(data: data)
        say("  snapshot at the head: first GetOperation after \(Self.text(with))")
        return W5Result(events: events, firstStart: first, withoutSnapshot: without, snapshotAtHead: with, snapshotSequence: snapshot.0.sequence,
                        snapshotBytes: snapshot.0.sizeBytes, snapshotSeconds: snapshotSeconds)
    }

    private func restarts(data: String) async throws -> W5Result.Variant {
        var restarts: [W5Result.Restart] = []
        for _ in 0..<settings.restarts { restarts.append(try await restart(data: data)) }
        let sorted = restarts.map(\.firstGetMilliseconds).sorted()
        return W5Result.Variant(restarts: restarts, medianFirstGetMilliseconds: sorted[sorted.count / 2], minFirstGetMilliseconds: sorted[0])
    }

    /// Launches the daemon, polls its socket (every 100 µs for the first second, then every
    /// millisecond), then asks for one operation until it is answered.
    private func restart(data: String) async throws -> W5Result.Restart {
        let daemon = try Daemon.launch(binary: settings.longrund, dataDirectory: data, arguments: Self.daemonArguments)
        defer { daemon.stop() }
        let launched = daemon.server.startedAt
        let deadline = launched + .seconds(600)
        while !UnixSocket.accepts(daemon.socket) {
            guard daemon.server.process.isRunning else { throw RPCError(code: .unavailable, message: "longrund exited with status \(daemon.server.process.terminationStatus)") }
            guard ContinuousClock.now < deadline else { throw RPCError(code: .deadlineExceeded, message: "longrund did not listen within 600 s") }
            usleep(ContinuousClock.now - launched < .seconds(1) ? 100 : 1000)
        }
        let listening = ContinuousClock.now - launched
        let request = Google_Longrunning_GetOperationRequest.with { $0.name = "operations/op-0" }
        while true {
            do {
                _ = try await Connection.with(socket: daemon.socket) { try await $0.operations.getOperation(request) }
                break
            } catch let error as RPCError where error.code == .unavailable && ContinuousClock.now < deadline {
                continue
            }
        }
        let served = ContinuousClock.now - launched
        let again = ContinuousClock.now
        _ = try await Connection.with(socket: daemon.socket) { try await $0.operations.getOperation(request) }
        return W5Result.Restart(listeningMilliseconds: listening.seconds * 1000, firstGetMilliseconds: served.seconds * 1000,
                                freshConnectionGetMilliseconds: (ContinuousClock.now - again).seconds * 1000)
    }

    private static func text(_ variant: W5Result.Variant) -> String {
        let samples = variant.restarts.map { "\(Format.fixed($0.firstGetMilliseconds, 1))" }.joined(separator: ", ")
        let listening = variant.restarts.map { "\(Format.fixed($0.listeningMilliseconds, 1))" }.joined(separator: ", ")
        let fresh = variant.restarts.map { "\(Format.fixed($0.freshConnectionGetMilliseconds, 1))" }.joined(separator: ", ")
        return "median \(Format.fixed(variant.medianFirstGetMilliseconds, 1)) ms (target ≤ 100 ms); each: \(samples) ms; "
            + "listening after \(listening) ms; a new connection's Get to the running daemon: \(fresh) ms"
    }
}
