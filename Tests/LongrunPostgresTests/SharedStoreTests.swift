import LongrunDomain
import LongrunEngine
import LongrunPostgres
import LongrunStore
import LongrunTestSupport
import Testing

/// Two engines on one PostgreSQL schema stand for two hosts sharing a store.
@Suite("PostgreSQL: several hosts on one store", .enabled(if: PostgresTestServer.enabled))
struct SharedStoreTests {
    /// Opens two "hosts" on a fresh schema, runs `body`, and removes the schema.
    func withTwoHosts(_ body: (LongrunEngine, LongrunEngine) async throws -> Void) async throws {
        let place = try TestStorePlace(.postgres)
        var options = PostgresStore.Options()
        options.pollInterval = .milliseconds(200)
        let a = try await place.openEngine(options: options)
        let b = try await place.openEngine(options: options)
        do {
            try await body(a, b)
        } catch {
            a.close(); b.close(); await place.remove()
            throw error
        }
        a.close(); b.close(); await place.remove()
    }

    @Test func twoHostsRacingOnOneVersionGetOneWinnerAndOneAborted() async throws {
        try await withTwoHosts { a, b in
            let created = try await a.create(CreateRequest(id: "race"), actor: Fixtures.producer)
            for round in 0..<10 {
                let version = try await a.get(created.name).version
                async let first = outcome { try await a.progress(created.name, metadata: Fixtures.payload("M", "a\(round)"), expectedVersion: version, actor: Fixtures.producer) }
                async let second = outcome { try await b.progress(created.name, metadata: Fixtures.payload("M", "b\(round)"), expectedVersion: version, actor: Fixtures.producer) }
                let results = await [first, second]
                let winners = results.filter { if case .success = $0 { true } else { false } }
                let aborted = results.filter { if case .failure(let error as DomainError) = $0 { error.kind == .aborted } else { false } }
                #expect(winners.count == 1 && aborted.count == 1, "round \(round): \(results)")
                #expect(try await b.get(created.name).version == version + 1)
            }
        }
    }

    @Test func oneRequestIDFromTwoHostsCreatesOneOperation() async throws {
        try await withTwoHosts { a, b in
            for round in 0..<10 {
                let request = CreateRequest(metadata: Fixtures.payload("M"), requestID: "retry-\(round)")
                async let first = a.create(request, actor: Fixtures.producer)
                async let second = b.create(request, actor: Fixtures.producer)
                let (x, y) = try await (first, second)
                #expect(x.name == y.name, "round \(round)")
            }
            #expect(try await a.list(ListRequest(pageSize: 100)).operations.count == 10)
        }
    }

    @Test func aWaitOnOneHostEndsWhenAnotherCompletes() async throws {
        try await withTwoHosts { a, b in
            let created = try await a.create(CreateRequest(id: "waited"), actor: Fixtures.producer)
            async let waited = a.wait(created.name, timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(100))
            _ = try await b.complete(created.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            let result = try await waited
            #expect(result.done, "the wait returned at its timeout instead of at the other host's commit")
        }
    }

    @Test func theFeedOfEitherHostHasEveryEventInOrder() async throws {
        try await withTwoHosts { a, b in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (host, engine) in [("a", a), ("b", b)] {
                    group.addTask {
                        for index in 0..<40 { _ = try await engine.create(CreateRequest(id: "\(host)-\(index)"), actor: Fixtures.producer) }
                    }
                }
                try await group.waitForAll()
            }
            for engine in [a, b] {
                let events = try await engine.events(after: 0, limit: 1000)
                #expect(events.map(\.sequence) == Array(1...80), "sequences are dense and in commit order")
            }
            #expect(try await a.history(of: Fixtures.name("operations/b-7")).events.count == 1)
        }
    }

    /// A documented limit, pinned: snapshots, scrub and repair are LMDB's.
    @Test func snapshotsScrubAndRepairSayTheyAreLMDBs() async throws {
        try await withTwoHosts { a, _ in
            for (what, call) in [("snapshot", { _ = try await a.takeSnapshot() }), ("scrub", { _ = try await a.scrub() }),
                                 ("repair", { _ = try await a.repair(actor: Fixtures.consumer) })] as [(String, () async throws -> Void)] {
                let error = await #expect(throws: DomainError.self, "\(what)") { try await call() }
                #expect(error?.kind == .failedPrecondition)
                #expect(error?.reason == .notOnThisBackend)
            }
        }
    }

    @Test func anUnreachableServerIsUnavailableWithWhatToCheck() async throws {
        let location = try PostgresLocation(parsing: "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
        var options = PostgresStore.Options()
        options.connectTimeout = .seconds(2)
        let error = await #expect(throws: StoreError.self) { _ = try await PostgresStore.open(location, options: options, logger: Fixtures.quietLogger) }
        #expect(error?.kind == .unavailable)
        #expect(error?.message.contains("check that the server runs") == true, "\(String(describing: error))")
    }

    @Test func aNewerSchemaIsRefusedNotOverwritten() async throws {
        let place = try TestStorePlace(.postgres)
        let store = try await PostgresStore.open(place.postgres!, logger: Fixtures.quietLogger)
        try await store.execute("UPDATE longrun_meta SET value = '99' WHERE key = 'schema_version'")
        store.close()
        let error = await #expect(throws: StoreError.self) { _ = try await PostgresStore.open(place.postgres!, logger: Fixtures.quietLogger) }
        #expect(error?.kind == .unsupportedFormat)
        #expect(error?.message.contains("version 99") == true)
        await place.remove()
    }
}

func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}
