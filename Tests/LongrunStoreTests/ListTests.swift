import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

@Suite("Store: list paging and indexes")
struct ListTests {
    let t0 = Timestamp(seconds: 1_800_000_000)

    func name(_ index: Int, parent: String = "") -> OperationName {
        try! OperationName(collection: CollectionName(parent: parent), id: "op-\(index)")
    }

    func create(_ store: Store, _ names: [OperationName], done: (Int) -> Bool = { _ in false }) throws {
        try store.write { writer in
            for (index, op) in names.enumerated() {
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: op, time: t0)
                if done(index) {
                    try writer.append([.init(actor: Fixtures.producer, kind: .completed(.response(Fixtures.payload("R"))))], name: op, time: t0)
                }
            }
        }
    }

    /// Every page of `collections` in turn, `between` called after each page but the last; the
    /// names listed and how many pages.
    func listAll(_ store: Store, _ collections: CollectionSet, filter: Filter = .all, pageSize: Int, budget: Int = 10_000,
                 between: (Int) throws -> Void = { _ in }) throws -> (names: [OperationName], pages: Int) {
        var after: UInt64 = 0
        var names: [OperationName] = []
        var pages = 0
        while true {
            let page = try store.read {
                try $0.list(ListQuery(collections: collections, filter: filter, afterCreateSequence: after, pageSize: pageSize, scanBudget: budget))
            }
            pages += 1
            #expect(page.operations.count <= pageSize)
            names += page.operations.map(\.name)
            guard let next = page.resumeAfter else { break }
            after = next
            try between(pages)
            if pages > 10_000 { Issue.record("paging does not end"); break }
        }
        return (names, pages)
    }

    /// ``listAll(_:_:filter:pageSize:budget:between:)`` of one collection: the ids listed.
    func listAll(_ store: Store, _ collection: CollectionName, filter: Filter = .all, pageSize: Int, budget: Int = 10_000,
                 between: (Int) throws -> Void = { _ in }) throws -> (names: [String], pages: Int) {
        let (names, pages) = try listAll(store, CollectionSet(collection), filter: filter, pageSize: pageSize, budget: budget, between: between)
        return (names.map(\.id), pages)
    }

    @Test func pagesWalkACollectionInCreationOrderAndOnlyTheLastHasNoToken() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        try create(store, (0..<25).map { name($0) })
        try create(store, (0..<5).map { name($0, parent: "tenants/acme") })
        let (names, pages) = try listAll(store, .root, pageSize: 10)
        #expect(names == (0..<25).map { "op-\($0)" })
        #expect(pages == 3)
        // An exact multiple of the page size ends on a full page with no token, not an empty extra page.
        let (tenant, tenantPages) = try listAll(store, try CollectionName(parent: "tenants/acme"), pageSize: 5)
        #expect(tenant.count == 5)
        #expect(tenantPages == 1)
    }

    /// A wildcard merges its collections in creation order; a page reads each collection it meets
    /// with a cursor of its own up to a limit (128), and the others with a shared one: pages of
    /// collections taken in turn, more of them than that limit, must come out the same either way.
    @Test(arguments: [7, 50, 1000])
    func aWildcardMergesManyCollectionsInCreationOrder(pageSize: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        let tenants = 200
        // Created in turn (op-0 in t0, op-1 in t1, ...), four rounds; every third one done.
        let names = (0..<(tenants * 4)).map { name($0, parent: "tenants/t\($0 % tenants)") }
        try create(store, names, done: { $0 % 3 == 0 })
        let wildcard = try CollectionSet(listName: "tenants/-")
        for filter in [Filter.all, .notDone] {
            let listed = try listAll(store, wildcard, filter: filter, pageSize: pageSize).names.map(\.description)
            let expected = names.enumerated().filter { filter == .all || $0.offset % 3 != 0 }.map(\.element.description)
            let firstDifference = zip(listed, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(listed.count == expected.count && firstDifference == nil,
                    "filter \(filter), pages of \(pageSize): \(listed.count) listed of \(expected.count), first difference at \(firstDifference.map(String.init) ?? "none")")
        }
    }

    /// Collections of three sizes created in a seeded order: `projects/pK` (300 of them, most
    /// operations), `tenants/tK` (40, a few), `teams/tK` (3, fewer), plus the root; every third
    /// operation done, every eleventh deleted, one in 40 with 20 KiB of metadata (a wildcard's
    /// scan counts it as several). The names in creation order, and which are done.
    func mixedCollections(_ store: Store) throws -> (names: [OperationName], done: Set<Int>) {
        var random = SplitMix64(seed: 12)
        var names: [OperationName] = []
        for index in 0..<3000 {
            let roll = Int.random(in: 0..<100, using: &random)
            let parent = switch roll {
            case 0..<88: "projects/p\(Int.random(in: 0..<300, using: &random))"
            case 88..<97: "tenants/t\(Int.random(in: 0..<40, using: &random))"
            case 97..<99: "teams/t\(Int.random(in: 0..<3, using: &random))"
            default: ""
            }
            names.append(name(index, parent: parent))
        }
        try create(store, names, done: { $0 % 3 == 0 })
        let large = Payload(typeURL: "type.googleapis.com/acme.Large", value: [UInt8](repeating: 7, count: 20 << 10))
        try store.write { writer in
            for index in stride(from: 1, to: names.count, by: 40) where index % 3 != 0 {
                try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: large))], name: names[index], time: t0)
            }
            for index in stride(from: 0, to: names.count, by: 11) {
                try writer.append([.init(actor: Fixtures.consumer, kind: .deleted)], name: names[index], time: t0)
            }
        }
        return (names.enumerated().filter { $0.offset % 11 != 0 }.map(\.element), Set(stride(from: 0, to: names.count, by: 3)))
    }

    /// A wildcard page either merges its collections from the index or scans the records in
    /// creation order, taking turns until one finishes, and may hand over from the scan to the
    /// merge mid-page: a wildcard over hundreds of collections holding most operations (read by
    /// the scan), one over tens holding few among the others (scanned, then merged from where the
    /// scan stopped), one over three (merged at once), and every collection. Each must list exactly
    /// its collections' operations in creation order, whatever the filter, page size or budget.
    @Test(arguments: [1, 7, 100, 1000])
    func aWildcardListsItsOperationsInCreationOrderWhicheverWayItReads(pageSize: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        let (names, done) = try mixedCollections(store)
        let created = Dictionary(uniqueKeysWithValues: names.map { ($0, Int($0.id.dropFirst(3))!) })
        for listName in ["projects/-", "tenants/-", "teams/-", "-"] {
            let wildcard = try CollectionSet(listName: listName)
            for (filter, keep) in [(Filter.all, { (_: Int) in true }), (.notDone, { !done.contains($0) }),
                                   (try Filter(parsing: "done = true"), { done.contains($0) })] {
                let expected = names.filter { wildcard.matches($0.collection) && keep(created[$0]!) }
                #expect(!expected.isEmpty)
                for budget in [10_000, 5] {
                    let (listed, pages) = try listAll(store, wildcard, filter: filter, pageSize: pageSize, budget: budget)
                    let firstDifference = zip(listed, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    #expect(listed.count == expected.count && firstDifference == nil,
                            "\(listName), filter \(filter), pages of \(pageSize), budget \(budget): \(listed.count) listed of \(expected.count), first difference at \(firstDifference.map(String.init) ?? "none")")
                    if budget == 10_000 { #expect(pages == max(1, (expected.count + pageSize - 1) / pageSize)) }
                }
            }
        }
    }

    /// A wildcard over a few collections that hold most records is read by the scan even once the
    /// walk has found them all (a merge would pay per record what the scan does not), and goes
    /// back to the merge where the records turn to other collections: every page size and filter
    /// lists the same as creation order.
    @Test(arguments: [1, 7, 100, 1000])
    func aWildcardOverAFewCollectionsHoldingMostRecordsListsInCreationOrder(pageSize: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        // 600 in four tenants taken in turn, then 600 in the root, then 300 more in the tenants.
        let names = (0..<600).map { name($0, parent: "tenants/t\($0 % 4)") } + (600..<1200).map { name($0) }
            + (1200..<1500).map { name($0, parent: "tenants/t\($0 % 4)") }
        try create(store, names, done: { $0 % 3 == 0 })
        let tenants = try CollectionSet(listName: "tenants/-")
        for (filter, keep) in [(Filter.all, { (_: Int) in true }), (.notDone, { $0 % 3 != 0 })] {
            let expected = names.enumerated().filter { tenants.matches($0.element.collection) && keep($0.offset) }.map(\.element)
            let (listed, pages) = try listAll(store, tenants, filter: filter, pageSize: pageSize)
            #expect(listed == expected, "filter \(filter), pages of \(pageSize): \(listed.count) listed of \(expected.count)")
            #expect(pages == max(1, (expected.count + pageSize - 1) / pageSize))
        }
    }

    /// A scan across a wildcard passes records of other collections: one of those that is damaged
    /// fails no page of the wildcard (the merge reads on from it, and only the wildcard's
    /// candidates), while the page of its own collections that holds it fails, naming it.
    @Test func aDamagedRecordOfAnotherCollectionFailsNoWildcardPage() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        let (names, _) = try mixedCollections(store)
        let target = try #require(names.dropFirst(5).first { $0.collection.parent.hasPrefix("projects/") })
        let found = try store.read { reader in try #require(try reader.record(Keys.name(target))).database }
        let key = try store.read { Keys.sequence(try #require(try $0.operation(target)).createSequence) }
        try store.environment.write { txn in
            var value = try Array(#require(try txn.get(found, key: key)))
            value[value.count / 2] ^= 0x10
            try txn.put(found, key: key, value: value)
        }
        let tenants = try CollectionSet(listName: "tenants/-")
        let (listed, _) = try listAll(store, tenants, filter: .all, pageSize: 100)
        #expect(listed == names.filter { tenants.matches($0.collection) })
        #expect {
            try listAll(store, CollectionSet(listName: "projects/-"), filter: .all, pageSize: 100)
        } throws: { error in
            let error = error as? StoreError
            return error?.kind == .dataLoss && error?.damage?.operation == target
        }
    }

    /// The list index holds only parents the store checked when it wrote them: one that is not a
    /// valid parent is damage, said as such, not a malformed request.
    @Test func anInvalidParentInTheIndexIsDataLossForTheCollectionsThatMatchIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        try create(store, (0..<3).map { name($0, parent: "tenants/t\($0)") })
        try store.environment.write { txn in
            try txn.put(store.schema.byCreation, key: Array("tenants/Bad Id".utf8) + [0] + Keys.sequence(99), value: Array("x".utf8))
        }
        #expect {
            try store.read { try $0.collections(matching: CollectionSet(listName: "tenants/-")) }
        } throws: { ($0 as? StoreError)?.kind == .dataLoss && "\($0)".contains("invalid parent") }
        // A wildcard that does not cover it still answers.
        #expect(try store.read { try $0.collections(matching: CollectionSet(listName: "teams/-")) }.isEmpty)
    }

    @Test func aPageOfLargeOperationsEndsBeforeItOutgrowsOneGRPCMessage() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        let big = Payload(typeURL: "type.googleapis.com/acme.Big", value: [UInt8](repeating: 7, count: 900 << 10))
        try store.write { writer in
            for index in 0..<10 {
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init(metadata: big)))], name: name(index), time: t0)
            }
        }
        var after: UInt64 = 0
        var seen: [String] = []
        while true {
            let page = try store.read { try $0.list(ListQuery(collection: .root, afterCreateSequence: after, pageSize: 100)) }
            // 3 MiB of stored state at most: three 900 KiB operations, never a page past the budget.
            #expect(page.operations.count == min(3, 10 - seen.count))
            seen += page.operations.map(\.name.id)
            guard let next = page.resumeAfter else { break }
            after = next
        }
        #expect(seen == (0..<10).map { "op-\($0)" })
        // A single operation larger than the budget still comes back, alone on its page.
        let alone = try store.read { try $0.list(ListQuery(collection: .root, pageSize: 100, maximumBytes: 1000)) }
        #expect(alone.operations.count == 1)
        #expect(alone.resumeAfter != nil)
    }

    @Test func nothingThatExistedIsSkippedOrRepeatedWhileOthersChange() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        try create(store, (0..<100).map { name($0) })
        var nextNew = 1000
        let (names, _) = try listAll(store, .root, pageSize: 7) { page in
            // Between pages: create new operations and complete some old ones.
            try create(store, [name(nextNew)])
            nextNew += 1
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .completed(.response(Fixtures.payload("R"))))], name: name(page * 3), time: t0)
            }
        }
        let original = names.filter { Int($0.dropFirst(3))! < 1000 }
        #expect(original == (0..<100).map { "op-\($0)" })
        #expect(Set(names).count == names.count)
    }

    @Test func doneFalseScansOnlyTheRunningIndex() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        // 3000 done operations, then 3 running ones.
        try create(store, (0..<3000).map { name($0) }, done: { _ in true })
        try create(store, (3000..<3003).map { name($0) })
        // With a scan budget of 10, only an index without the done operations can answer in one page.
        let running = try store.read {
            try $0.list(ListQuery(collection: .root, filter: try Filter(parsing: "done = false"), pageSize: 50, scanBudget: 10))
        }
        #expect(running.operations.map(\.name.id) == ["op-3000", "op-3001", "op-3002"])
        #expect(running.resumeAfter == nil)
        // The same budget over all operations returns a short page with a token to continue.
        let done = try store.read {
            try $0.list(ListQuery(collection: .root, filter: try Filter(parsing: "done = true"), pageSize: 50, scanBudget: 10))
        }
        #expect(done.operations.count == 10)
        #expect(done.resumeAfter != nil)
    }

    @Test func aSparseFilterReturnsShortPagesThatStillReachEveryMatch() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        try create(store, (0..<500).map { name($0) }, done: { $0 % 97 == 0 })
        let (names, pages) = try listAll(store, .root, filter: try Filter(parsing: "done = true"), pageSize: 2, budget: 40)
        #expect(names == ["op-0", "op-97", "op-194", "op-291", "op-388", "op-485"])
        #expect(pages > 3)
    }

    @Test func deletedOperationsLeaveTheListButKeepTheirName() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        try create(store, (0..<3).map { name($0) })
        try store.write { writer in try writer.append([.init(actor: Fixtures.consumer, kind: .deleted)], name: name(1), time: t0) }
        #expect(try listAll(store, .root, pageSize: 10).names == ["op-0", "op-2"])
        #expect(try store.read { try $0.operation(name(1))?.isDeleted } == true)
        #expect(try store.read { try $0.runningOperationCount() } == 2)
    }
}
