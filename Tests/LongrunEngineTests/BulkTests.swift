import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Testing

/// Cancelling and deleting by filter: every match as its own command, counted, with the caller's
/// permission checked per operation; on every backend.
@Suite("Engine: bulk cancel and delete")
struct BulkTests {
    @Test(arguments: TestBackend.available)
    func aBulkCancelActsOnWhatTheCallerMayChangeAndCountsTheRest(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let mine = Fixtures.producer, theirs = Fixtures.consumer
            var own: [OperationName] = []
            // More than one page of matches (the engine acts a page at a time).
            for index in 0..<(Int(LongrunEngine.bulkPage) + 20) {
                own.append(try await engine.create(CreateRequest(collection: try CollectionName(parent: "tenants/a"), id: "mine-\(index)"), actor: mine).name)
            }
            let foreign = try await engine.create(CreateRequest(collection: try CollectionName(parent: "tenants/b"), id: "theirs"), actor: theirs).name
            _ = try await engine.complete(own[0], outcome: .response(Fixtures.payload("R")), actor: mine)
            _ = try await engine.cancel(own[1], actor: mine)
            let access = Access.owner(uid: mine.uid!, readsOwnOnly: false)

            // Counting changes nothing.
            let counted = try await engine.bulk(.cancel(reason: "tidy"), name: "tenants/-", filter: "done = false", validateOnly: true, actor: mine, access: access)
            #expect(counted.matched == own.count) // every running one of mine (own[0] is done), and theirs
            #expect(counted.changed == 0 && counted.refusedCount == 0)
            #expect(try await engine.get(own[2]).cancelRequest == nil)

            let report = try await engine.bulk(.cancel(reason: "tidy"), name: "tenants/-", filter: "done = false", actor: mine, access: access)
            #expect(report.matched == own.count)
            #expect(report.changed == own.count - 2) // not own[0] (done, so not matched) nor own[1] (already asked)
            #expect(report.unchanged == 1)
            #expect(report.refusedCount == 1)
            #expect(report.refused.map(\.name) == [foreign])
            #expect(report.refused.first?.error.kind == .permissionDenied)
            let asked = try await engine.get(own[2]).cancelRequest
            #expect(asked?.reason == "tidy" && asked?.actor == mine)
            #expect(try await engine.get(foreign).cancelRequest == nil)
            #expect(try await engine.history(of: own[3]).events.map(\.kind.label) == ["created", "cancel_requested"])
        }
    }

    @Test(arguments: TestBackend.available)
    func aBulkDeleteNeedsAFilterOrAllAndDeletesEachMatch(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            var names: [OperationName] = []
            for index in 0..<6 { names.append(try await engine.create(CreateRequest(id: "job-\(index)"), actor: Fixtures.producer).name) }
            for name in names.prefix(3) { _ = try await engine.complete(name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }

            await #expect(throws: DomainError.self) { _ = try await engine.bulk(.delete, name: "operations", filter: " ", actor: Fixtures.producer) }
            let done = try await engine.bulk(.delete, name: "operations", filter: "done = true", actor: Fixtures.producer)
            #expect((done.matched, done.changed, done.unchanged, done.refusedCount) == (3, 3, 0, 0))
            #expect(try await engine.list(ListRequest(pageSize: 100)).operations.map(\.name) == Array(names.suffix(3)))
            // Deleted, not cancelled; the history stays.
            #expect(try await engine.history(of: names[0]).events.map(\.kind.label) == ["created", "completed", "deleted"])

            let rest = try await engine.bulk(.delete, name: "operations", filter: "", all: true, actor: Fixtures.producer)
            #expect((rest.matched, rest.changed) == (3, 3))
            #expect(try await engine.list(ListRequest(pageSize: 100)).operations.isEmpty)
        }
    }
}
