import GRPCCore
import LongrunEngine
import LongrunProto
@testable import LongrunServer
import LongrunTestSupport
import Logging
import SwiftProtobuf
import Testing

@Suite("Prometheus metrics")
struct MetricsTests {
    static let operations = "google.longrunning.Operations"

    @Test func rpcsAreCountedByServiceMethodAndCodeAndTimed() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics }) { h in
            let created = try await h.create(id: "a")
            _ = try await h.create(id: "b")
            for _ in 0..<3 { _ = try await h.operations.getOperation(.with { $0.name = created.name }) }
            await expectRPCError(.notFound) { _ = try await h.operations.getOperation(.with { $0.name = "operations/missing" }) }

            let scraped = Exposition(metrics.expositionText())
            #expect(scraped.type(of: "longrun_rpc_requests_total") == "counter")
            #expect(scraped.value("longrun_rpc_requests_total", ["service": Self.operations, "method": "GetOperation", "code": "OK"]) == 3)
            #expect(scraped.value("longrun_rpc_requests_total", ["service": Self.operations, "method": "GetOperation", "code": "NOT_FOUND"]) == 1)
            #expect(scraped.value("longrun_rpc_requests_total", ["service": "longrun.v1.Producers", "method": "CreateOperation", "code": "OK"]) == 2)
            // The harness's first call.
            #expect(scraped.value("longrun_rpc_requests_total", ["service": "longrun.v1.Admin", "method": "GetServerInfo", "code": "OK"]) == 1)
            #expect(scraped.type(of: "longrun_rpc_duration_seconds") == "histogram")
            #expect(scraped.value("longrun_rpc_duration_seconds_count", ["method": "GetOperation", "code": "OK"]) == 3)
            #expect(scraped.value("longrun_rpc_duration_seconds_bucket", ["method": "GetOperation", "code": "OK", "le": "+Inf"]) == 3)
            #expect((scraped.value("longrun_rpc_duration_seconds_sum", ["method": "GetOperation", "code": "OK"]) ?? 0) > 0)

            // Counted again at the next scrape, not reset or doubled by sampling.
            _ = try await h.operations.getOperation(.with { $0.name = created.name })
            let again = Exposition(metrics.expositionText())
            #expect(again.value("longrun_rpc_requests_total", ["method": "GetOperation", "code": "OK"]) == 4)
        }
    }

    @Test func commitsTransitionsAndTheEngineGauges() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics }) { h in
            let first = try await h.create(id: "one")
            _ = try await h.create(id: "two")
            _ = try await h.complete(first.name, response: any(Google_Protobuf_StringValue("done")))

            let scraped = Exposition(metrics.expositionText())
            let statistics = h.engine.writerStatistics
            #expect(statistics.transitions >= 3)
            #expect(scraped.value("longrun_transitions_committed_total") == Double(statistics.transitions))
            #expect(scraped.value("longrun_commits_total") == Double(statistics.commits))
            #expect(scraped.value("longrun_commands_total") == Double(statistics.commands))
            #expect(scraped.value("longrun_commit_batch_size_count") == Double(statistics.commits))
            #expect(scraped.value("longrun_commit_batch_size_sum") == Double(statistics.commands))
            #expect(scraped.value("longrun_commit_duration_seconds_count") == Double(statistics.commits))
            #expect(scraped.value("longrun_running_operations") == 1)
            #expect(scraped.value("longrun_live_operations") == 2)
            let head = try await h.engine.appliedSequence()
            #expect(head >= 3)
            #expect(scraped.value("longrun_log_head_sequence") == Double(head))
            #expect(scraped.value("longrun_applied_sequence") == Double(head))
            #expect(scraped.value("longrun_replay_lag_events") == 0)
            #expect((scraped.value("longrun_store_used_bytes") ?? 0) > 0)
            #expect((scraped.value("longrun_store_map_size_bytes") ?? 0) >= (scraped.value("longrun_store_used_bytes") ?? .infinity))
            #expect(scraped.value("longrun_store_max_size_bytes") == Double(h.engine.configuration.maximumMapSize))
            #expect(scraped.value("longrun_integrity_damaged_reads_total") == 0)
            #expect(scraped.value("longrun_writes_refused") == 0)
            #expect(scraped.value("longrun_waiters") == 0)
            #expect(scraped.value("longrun_watchers") == 0)
            #expect(scraped.value("longrun_pending_request_bytes") == 0)
            #expect(scraped.value("longrun_unread_answer_bytes") == 0)
            // No snapshot yet: no age to report.
            #expect(scraped.value("longrun_snapshot_age_seconds") == nil)
        }
    }

    @Test func snapshotAgeFollowsTheEnginesClock() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics }) { h in
            _ = try await h.create(id: "one")
            let snapshot = try await h.admin.takeSnapshot(.init())
            h.clock.advance(by: .seconds(90))
            let scraped = Exposition(metrics.expositionText())
            #expect(scraped.value("longrun_snapshot_sequence") == Double(snapshot.sequence))
            #expect(scraped.value("longrun_snapshot_age_seconds") == 90)
        }
    }

    /// A WaitOperation of `name` (up to 30 s) in a task of its own, once `longrun_waiters` counts it.
    private static func openWait(of name: String, on h: Harness, countedIn metrics: LongrunMetrics) async throws
        -> Task<Google_Longrunning_Operation, any Error> {
        let waiting = Task {
            try await h.operations.waitOperation(.with { $0.name = name; $0.timeout = .init(seconds: 30) })
        }
        var open: Double?
        for _ in 0..<200 where open != 1 {
            open = Exposition(metrics.expositionText()).value("longrun_waiters")
            if open != 1 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(open == 1)
        return waiting
    }

    @Test func openWaitsAreCountedWhileTheyWait() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics }) { h in
            let created = try await h.create(id: "slow")
            let waiting = try await Self.openWait(of: created.name, on: h, countedIn: metrics)
            _ = try await h.complete(created.name, response: any(Google_Protobuf_StringValue("done")))
            _ = try await waiting.value
            let after = Exposition(metrics.expositionText())
            #expect(after.value("longrun_waiters") == 0)
            #expect(after.value("longrun_rpc_requests_total", ["method": "WaitOperation", "code": "OK"]) == 1)
        }
    }

    /// What the server holds for peers (requests arriving, answers not read) is summed over uids.
    @Test func bytesHeldForPeersAreGauged() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics }) { h in
            try h.server.quotas.chargePending(3_000, uid: 7)
            try h.server.quotas.chargePending(2_000, uid: 8)
            try h.server.quotas.chargeQueued(4_000, uid: 7)
            _ = h.server.quotas.addUnread(5_000, uid: 7)
            let held = Exposition(metrics.expositionText())
            #expect(held.value("longrun_pending_request_bytes") == 5_000)
            #expect(held.value("longrun_queued_write_bytes") == 4_000)
            #expect(held.value("longrun_unread_answer_bytes") == 5_000)
            h.server.quotas.releasePending(3_000, uid: 7)
            h.server.quotas.releaseQueued(4_000, uid: 7)
            _ = h.server.quotas.addUnread(-5_000, uid: 7)
            let after = Exposition(metrics.expositionText())
            #expect(after.value("longrun_pending_request_bytes") == 2_000)
            #expect(after.value("longrun_queued_write_bytes") == 0)
            #expect(after.value("longrun_unread_answer_bytes") == 0)
        }
    }

    /// A WaitOperation woken by a completion is timed from the commit's announcement to its read of
    /// the operation, answered on the event loop or through grpc-swift; one that ends at its
    /// deadline is not.
    @Test(arguments: [true, false])
    func aWokenWaitIsTimedFromTheCommitThatWokeIt(answersOnEventLoop: Bool) async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = metrics; $0.answersOnEventLoop = answersOnEventLoop }) { h in
            let created = try await h.create(id: "woken")
            let timedOut = try await h.operations.waitOperation(.with { $0.name = created.name; $0.timeout = .init(nanos: 20_000_000) })
            #expect(!timedOut.done)
            let waiting = try await Self.openWait(of: created.name, on: h, countedIn: metrics)
            _ = try await h.complete(created.name, response: any(Google_Protobuf_StringValue("done")))
            #expect(try await waiting.value.done)
            let scraped = Exposition(metrics.expositionText())
            #expect(scraped.type(of: "longrun_wait_wakeup_seconds") == "histogram")
            #expect(scraped.value("longrun_wait_wakeup_seconds_count") == 1)
            #expect((scraped.value("longrun_wait_wakeup_seconds_sum") ?? -1) >= 0)
        }
    }

    @Test func serversInOneProcessKeepTheirOwnCounts() async throws {
        let first = LongrunMetrics(), second = LongrunMetrics()
        try await Harness.with(server: { $0.metrics = first }) { h in
            _ = try await h.create(id: "x")
        }
        try await Harness.with(server: { $0.metrics = second }) { _ in }
        let one = Exposition(first.expositionText()), two = Exposition(second.expositionText())
        #expect(one.value("longrun_rpc_requests_total", ["method": "CreateOperation"]) == 1)
        #expect(two.value("longrun_rpc_requests_total", ["method": "CreateOperation"]) == nil)
        #expect(two.value("longrun_rpc_requests_total", ["method": "GetServerInfo"]) == 1)
    }
}
