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

    @Test func dumpHistoryAndStateReadAPostgresStoreInPlaceAsTheyReadTheDataDirectory() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let location = try PostgresTestServer.freshLocation()
            defer { Task { try? await PostgresTestServer.drop(location) } }
            _ = try await StoreCopy.run(from: .directory(directory.path), to: .postgres(location), logger: Scenario.logger)
            var options = PostgresStore.Options()
            options.createIfAbsent = false
            let postgres = try await PostgresStore.open(location, options: options, logger: Scenario.logger)
            defer { postgres.close() }
            let original = try Scenario.open(directory.path)

            for name in [Scenario.alpha, Scenario.bravo] {
                #expect(try await EventDump.historyLines(store: postgres, name: name) == (try await EventDump.historyLines(store: original, name: name)))
            }
            await #expect(throws: ReplayError.self) { try await EventDump.historyLines(store: postgres, name: Fixtures.name("operations/never")) }

            func dump(_ store: any OperationStore, _ query: DumpQuery) async throws -> [String] {
                var lines: [String] = []
                try await EventDump.run(store: store, query: query, batchSize: 2) { lines.append($0) }
                return lines
            }
            let queries = [
                DumpQuery(), DumpQuery(fromSequence: 3, toSequence: 5), DumpQuery(name: Scenario.alpha),
                DumpQuery(since: Scenario.time(ofEvent: 6), until: Scenario.time(ofEvent: 8)),
                DumpQuery(fromSequence: 4, name: Scenario.alpha), DumpQuery(until: Scenario.t0),
            ]
            for query in queries {
                #expect(try await dump(postgres, query) == (try await dump(original, query)), "\(query)")
            }
            #expect(try await dump(postgres, DumpQuery()).count == 9)

            // One operation as of a point: folded from its own events on PostgreSQL, replayed into a
            // scratch store on LMDB; the same answer, by sequence and by time, deleted and absent too.
            let points: [(OperationName, PointInTime)] = [
                (Scenario.alpha, .sequence(5)), (Scenario.alpha, .time(Scenario.time(ofEvent: 5) + .milliseconds(500))),
                (Scenario.bravo, .sequence(8)), (Scenario.charlie, .sequence(5)), (Scenario.alpha, .sequence(0)),
            ]
            for (name, point) in points {
                let direct = try await StateAt.operation(name, in: postgres, at: point)
                let replayed = try await StateAt.run(store: original, query: StateQuery(at: point, name: name), scratchParent: directory.path, logger: Scenario.logger)
                #expect(direct.human == replayed.human, "\(name) at \(point)")
                #expect(direct.jsonLines == replayed.jsonLines, "\(name) at \(point)")
            }
            await #expect(throws: ReplayError.self) { try await StateAt.operation(Scenario.alpha, in: postgres, at: .time(Scenario.t0)) }
            await #expect(throws: ReplayError.self) { try await StateAt.operation(Scenario.alpha, in: postgres, at: .sequence(10)) }

            // A collection as of a point still folds the whole log: a scratch copy, the same answer.
            let copy = try await ScratchCopy(of: location, logger: Scenario.logger)
            defer { copy.remove() }
            let listing = StateQuery(at: .sequence(7))
            #expect(try await StateAt.run(store: copy.store, query: listing, logger: Scenario.logger).human
                == (try await StateAt.run(store: original, query: listing, logger: Scenario.logger).human))
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
