import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Testing

@Suite("Engine: watch")
struct WatchTests {
    @Test(arguments: TestBackend.available)
    func eventsComeWithTheStateAsOfEachAndTheFilterSeesThat(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let first = try await engine.create(CreateRequest(id: "first"), actor: Fixtures.producer)
            _ = try await engine.create(CreateRequest(collection: CollectionName(parent: "tenants/acme"), id: "other"), actor: Fixtures.producer)
            _ = try await engine.progress(first.name, metadata: nil, actor: Fixtures.producer)
            _ = try await engine.complete(first.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)

            var everything = try await engine.watch(collection: "", filter: "", after: .after(0)).makeAsyncIterator()
            var seen: [(Bool, UInt64)] = []
            for _ in 0..<3 {
                let watched = try #require(try await everything.next())
                #expect(watched.event.name == first.name)
                seen.append((watched.state?.done ?? false, watched.version))
            }
            #expect(seen.map(\.0) == [false, false, true])
            #expect(seen.map(\.1) == [1, 2, 3])

            var done = try await engine.watch(collection: "", filter: "done = true", after: .after(0)).makeAsyncIterator()
            let completed = try #require(try await done.next())
            #expect(completed.state?.done == true && completed.event.sequence == 4)
        }
    }

    @Test(arguments: TestBackend.available)
    func theScopeAndTheStartAreCheckedBeforeAnythingStreams(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            _ = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            await expectDomainError(.invalidArgument, .invalidFilter) { _ = try await engine.watch(collection: "", filter: "nope = 1", after: .head) }
            await expectDomainError(.invalidArgument, .invalidName) { _ = try await engine.watch(collection: "Bad Name", filter: "", after: .head) }
            await expectDomainError(.outOfRange, .sequenceAheadOfLog) { _ = try await engine.watch(collection: "", filter: "", after: .after(99)) }
        }
    }

    @Test(arguments: TestBackend.available)
    func historyPagesCarryTheVersionAfterEachEvent(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            _ = try await engine.hold(op.name, reason: "audit", actor: Actor.engine)
            _ = try await engine.progress(op.name, metadata: nil, actor: Fixtures.producer)
            let firstPage = try await engine.history(of: op.name, pageSize: 2)
            #expect(firstPage.versions == [1, 1])
            let secondPage = try await engine.history(of: op.name, pageSize: 2, pageToken: firstPage.nextPageToken)
            #expect(secondPage.versions == [2])
        }
    }
}
