import LongrunDomain
import LongrunEngine
import LongrunPostgres
import LongrunReplayKit
import LongrunStore
import LongrunTestSupport
import Testing

/// `longrun-replay copy` between LMDB and PostgreSQL, and `verify` of a PostgreSQL store.
@Suite("Replay: copy between backends, verify on PostgreSQL", .enabled(if: PostgresTestServer.enabled))
struct CopyTests {
    @Test func aCopyToPostgresAndBackKeepsEveryEventAndHashAndServesTheSameState() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory.child("source")
            try await Scenario.populate(source)
            try await Scenario.appendMore(source, count: 30, prefix: "more")
            let postgres = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(postgres) } }

            let there = try await StoreCopy.run(from: .directory(source), to: .postgres(postgres), logger: Scenario.logger)
            #expect(there.verification.isHealthy, "\(there.human)")
            #expect(there.events == 69)
            let back = try await StoreCopy.run(from: .postgres(postgres), to: .directory(directory.child("back")), logger: Scenario.logger)
            #expect(back.verification.isHealthy, "\(back.human)")
            #expect(back.headHash == there.headHash, "the chain is the same on both backends")

            // The same events, byte for byte, and the same state served by engines on each.
            let original = try Scenario.open(source)
            let copied = try Scenario.open(directory.child("back"))
            #expect(try original.logEntries(after: 0, limit: 1000).map(\.entry) == (try copied.logEntries(after: 0, limit: 1000).map(\.entry)))
            let onLMDB = try Fixtures.openEngine(source)
            defer { onLMDB.close() }
            let store = try await PostgresStore.open(postgres, logger: Scenario.logger)
            let onPostgres = try await LongrunEngine(store: store, logger: Scenario.logger)
            defer { onPostgres.close() }
            #expect(try await onPostgres.list(ListRequest(pageSize: 1000)).operations == (try await onLMDB.list(ListRequest(pageSize: 1000)).operations))
            #expect(try await onPostgres.history(of: Scenario.bravo).events == (try await onLMDB.history(of: Scenario.bravo).events))
            #expect(try await onPostgres.state(of: Scenario.alpha, at: 5) == (try await onLMDB.state(of: Scenario.alpha, at: 5)))
        }
    }

    @Test func verifyNamesTheFirstEditedEventOfAPostgresLog() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let postgres = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(postgres) } }
            _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(postgres), logger: Scenario.logger)
            let store = try await PostgresStore.open(postgres, logger: Scenario.logger)
            defer { store.close() }
            #expect(try await store.verify().isHealthy)

            // Flip one bit in the record of event 5.
            try await store.execute("UPDATE longrun_log SET entry = set_byte(entry, 60, get_byte(entry, 60) # 1) WHERE sequence = 5")
            let report = try await store.verify()
            #expect(report.firstBadSequence == 5, "\(report.problems)")
            #expect(!report.isHealthy)

            // A view edited behind the engine's back is found too.
            let other = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(other) } }
            _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(other), logger: Scenario.logger)
            let second = try await PostgresStore.open(other, logger: Scenario.logger)
            defer { second.close() }
            try await second.execute("UPDATE longrun_operations SET running = NOT running WHERE name = 'operations/charlie'")
            let views = try await second.verify()
            #expect(views.problems.map(\.kind) == [.viewsDiffer], "\(views.problems)")
        }
    }

    @Test func historyAndStateOfAPostgresStoreReadAsOnTheDataDirectory() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let postgres = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(postgres) } }
            _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(postgres), logger: Scenario.logger)
            let copy = try await ScratchCopy(of: postgres, logger: Scenario.logger)
            defer { copy.remove() }
            let original = try Scenario.open(directory.path)
            #expect(try EventDump.historyLines(store: copy.store, name: Scenario.alpha) == (try EventDump.historyLines(store: original, name: Scenario.alpha)))
            let query = StateQuery(at: .sequence(5), name: Scenario.alpha, collection: .root, filter: .all)
            #expect(try StateAt.run(store: copy.store, query: query, logger: Scenario.logger).human
                == (try StateAt.run(store: original, query: query, logger: Scenario.logger).human))
        }
    }

    @Test func aCopyIntoAStoreThatHoldsEventsIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let postgres = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(postgres) } }
            _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(postgres), logger: Scenario.logger)
            await #expect(throws: StoreError.self) {
                _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(postgres), logger: Scenario.logger)
            }
            await #expect(throws: StoreError.self) {
                _ = try await StoreCopy.run(from: .postgres(postgres), to: .directory(directory.path), logger: Scenario.logger)
            }
        }
    }
}
