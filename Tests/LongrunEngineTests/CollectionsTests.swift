import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Testing

/// Reading across collections (AIP-159): wildcard lists and the list of collections, on every backend.
@Suite("Engine: across collections")
struct CollectionsTests {
    /// Operations interleaved over the root, two tenants and a project nested in one, so that
    /// creation order differs from any order by collection or name. Some are done, one deleted.
    func populate(_ engine: LongrunEngine) async throws -> [OperationState] {
        let parents = ["tenants/globex", "", "tenants/acme", "tenants/acme/projects/p1"]
        var live: [OperationState] = []
        for index in 0..<6 {
            for parent in parents {
                let actor = index % 2 == 0 ? Fixtures.producer : Fixtures.consumer
                var op = try await engine.create(CreateRequest(collection: CollectionName(parent: parent), id: "z\((index * 5) % 7)-\(index)"), actor: actor)
                if index % 3 == 1 { op = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: actor) }
                if index == 4 && parent == "tenants/globex" {
                    _ = try await engine.delete(op.name, actor: actor)
                    continue
                }
                live.append(op)
            }
        }
        return live
    }

    func listAll(_ engine: LongrunEngine, _ name: String, filter: String = "", pageSize: Int32, access: Access = .unrestricted) async throws -> [String] {
        var token = ""
        var names: [String] = []
        var pages = 0
        repeat {
            let page = try await engine.list(ListRequest(name: name, filter: filter, pageSize: pageSize, pageToken: token), access: access)
            #expect(page.operations.count <= Int(pageSize))
            names += page.operations.map(\.name.description)
            token = page.nextPageToken
            pages += 1
        } while !token.isEmpty && pages < 1000
        return names
    }

    @Test(arguments: TestBackend.available)
    func aWildcardListsEveryMatchingCollectionInCreationOrderWithOneToken(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let live = try await populate(engine)
            let names = live.map(\.name.description)
            let tenants = live.filter { $0.name.collection.parent.split(separator: "/").count == 2 }.map(\.name.description)
            #expect(tenants.contains { $0.hasPrefix("tenants/acme/operations/") } && tenants.contains { $0.hasPrefix("tenants/globex/operations/") })

            #expect(try await listAll(engine, "tenants/-", pageSize: 3) == tenants)
            #expect(try await listAll(engine, "tenants/-/operations", pageSize: 100) == tenants)
            #expect(try await listAll(engine, "-", pageSize: 4) == names)
            #expect(try await listAll(engine, "-/operations", pageSize: 1000) == names)
            #expect(try await listAll(engine, "tenants/-/projects/-", pageSize: 2) == names.filter { $0.contains("/projects/") })
            #expect(try await listAll(engine, "tenants/acme/projects/-", pageSize: 2) == names.filter { $0.contains("/projects/") })
            #expect(try await listAll(engine, "nothing/-", pageSize: 2).isEmpty)
            // The filter applies as for one collection, from the index of running ones for done = false.
            let running = live.filter { !$0.done }.map(\.name.description)
            #expect(try await listAll(engine, "-", filter: "done = false", pageSize: 3) == running)
            #expect(try await listAll(engine, "tenants/-", filter: "done = false", pageSize: 2) == running.filter { tenants.contains($0) })
            #expect(try await listAll(engine, "-", filter: "name = \"tenants/acme/*\"", pageSize: 2) == names.filter { $0.hasPrefix("tenants/acme/") })
            // Owner-only callers see their own operations alone, across collections too.
            let own = live.filter { $0.creator.uid == Fixtures.consumer.uid }.map(\.name.description)
            #expect(try await listAll(engine, "-", pageSize: 2, access: .owner(uid: Fixtures.consumer.uid!, readsOwnOnly: true)) == own)
        }
    }

    @Test(arguments: TestBackend.available)
    func wildcardTokensAreBoundToTheWildcardAndTheFilter(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            _ = try await populate(engine)
            let first = try await engine.list(ListRequest(name: "tenants/-", pageSize: 2))
            #expect(!first.nextPageToken.isEmpty)
            // Two spellings of one wildcard share tokens; another wildcard, a single collection or
            // another filter refuse them.
            #expect(try await engine.list(ListRequest(name: "tenants/-/operations", pageSize: 2, pageToken: first.nextPageToken)).operations.count == 2)
            for (name, filter) in [("-", ""), ("tenants/acme", ""), ("tenants/-", "done = false"), ("tenants/-/projects/-", "")] {
                await #expect(throws: DomainError.self) {
                    _ = try await engine.list(ListRequest(name: name, filter: filter, pageSize: 2, pageToken: first.nextPageToken))
                }
            }
            for bad in ["-/acme", "-/acme/operations", "tenants/-/operations/x", "operations/-", "tenants/-/-", "Tenants/-", "tenants/-/"] {
                do {
                    _ = try await engine.list(ListRequest(name: bad))
                    Issue.record("\(bad) was accepted")
                } catch let error as DomainError {
                    #expect(error.kind == .invalidArgument && error.reason == .invalidName, "\(bad): \(error)")
                }
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func collectionsAreListedByNameWithLiveOperationsOnly(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            #expect(try await engine.collections(CollectionsRequest()).collections.isEmpty)
            _ = try await populate(engine)
            let gone = try await engine.create(CreateRequest(collection: CollectionName(parent: "teams/gone"), id: "a"), actor: Fixtures.producer)
            _ = try await engine.delete(gone.name, actor: Fixtures.producer)
            let every = ["operations", "tenants/acme/operations", "tenants/acme/projects/p1/operations", "tenants/globex/operations"]
            #expect(try await engine.collections(CollectionsRequest()).collections.map(\.description) == every)
            #expect(try await engine.collections(CollectionsRequest(name: "-")).collections.map(\.description) == every)
            #expect(try await engine.collections(CollectionsRequest(name: "tenants/-")).collections.map(\.description)
                    == ["tenants/acme/operations", "tenants/globex/operations"])
            #expect(try await engine.collections(CollectionsRequest(name: "tenants/acme")).collections.map(\.description) == ["tenants/acme/operations"])
            var token = ""
            var paged: [String] = []
            repeat {
                let page = try await engine.collections(CollectionsRequest(pageSize: 1, pageToken: token))
                #expect(page.collections.count <= 1)
                paged += page.collections.map(\.description)
                token = page.nextPageToken
            } while !token.isEmpty && paged.count < 10
            #expect(paged == every)
            let first = try await engine.collections(CollectionsRequest(pageSize: 1))
            await #expect(throws: DomainError.self) {
                _ = try await engine.collections(CollectionsRequest(name: "tenants/-", pageToken: first.nextPageToken))
            }
            // Owner-only callers may not see which collections exist; admins and open daemons may.
            do {
                _ = try await engine.collections(CollectionsRequest(), access: .owner(uid: 1000, readsOwnOnly: true))
                Issue.record("an owner-only caller listed the collections")
            } catch let error as DomainError {
                #expect(error.kind == .permissionDenied)
            }
            #expect(try await engine.collections(CollectionsRequest(), access: .owner(uid: 1000, readsOwnOnly: false)).collections.count == 4)
        }
    }

    /// Collections are paged in the order of their parents' bytes, each page walking the index
    /// only as far as it returns (on LMDB): over parents whose order by bytes differs from a
    /// locale's (`-` and `/` against letters and digits), with nested ones and a deleted one, every
    /// page size lists each collection once, in that order, under every kind of name.
    @Test(arguments: TestBackend.available)
    func collectionPagesFollowTheParentsBytesAcrossManyCollections(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            var parents = ["", "teams/a", "teams/a-b", "teams/ab", "teams/a/projects/p"]
            for index in 0..<30 { parents += ["tenants/t\(index)", "tenants/t-\(index)", "tenants/t\(index)/projects/p1"] }
            for (index, parent) in parents.enumerated() {
                _ = try await engine.create(CreateRequest(collection: CollectionName(parent: parent), id: "op-\(index)"), actor: Fixtures.producer)
            }
            let gone = try await engine.create(CreateRequest(collection: CollectionName(parent: "tenants/t1-gone"), id: "a"), actor: Fixtures.producer)
            _ = try await engine.delete(gone.name, actor: Fixtures.producer)
            let every = try parents.map { try CollectionName(parent: $0) }.sorted()
            #expect(every.map(\.parent) == parents.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            for name in ["", "tenants/-", "tenants/-/projects/-", "teams/-", "teams/a", "tenants/t1"] {
                let set = name.isEmpty ? CollectionSet.all : try CollectionSet(listName: name)
                let expected = every.filter { set.matches($0) }.map(\.description)
                #expect(!expected.isEmpty)
                for pageSize in [1, 7, 1000] as [Int32] {
                    var token = ""
                    var paged: [String] = []
                    var pages = 0
                    repeat {
                        let page = try await engine.collections(CollectionsRequest(name: name, pageSize: pageSize, pageToken: token))
                        #expect(page.collections.count <= Int(pageSize))
                        paged += page.collections.map(\.description)
                        token = page.nextPageToken
                        pages += 1
                    } while !token.isEmpty && pages < 200
                    #expect(paged == expected, "\(name.isEmpty ? "every collection" : name), pages of \(pageSize)")
                    #expect(pages == max(1, (expected.count + Int(pageSize) - 1) / Int(pageSize)))
                }
            }
        }
    }
}
