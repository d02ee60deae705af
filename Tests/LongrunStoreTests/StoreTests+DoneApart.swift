import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// The records of done operations are kept apart from running ones' (`done_by_creation` beside
/// `operations_by_creation`, docs/FORMAT.md): a record moves when its operation ends, and a store
/// that kept them together is converted in place.
extension StoreTests {
    @Test func aRecordMovesApartWhenItsOperationEndsAndIsReadWhereverItIs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("a"), [.created(.init())])
        try append(store, name("b"), [.created(.init()), .completed(.response(Fixtures.payload("R", "b")))])
        try append(store, name("c"), [.created(.init()), .progressed(metadata: Fixtures.payload("M", "half"))])
        try append(store, name("d"), [.created(.init()), .cancelRequested(reason: "", graceDeadline: nil), .completed(.error(Status(code: 1, message: "cancelled")))])
        try append(store, name("e"), [.created(.init()), .completed(.error(Status(code: 13, message: "no")))])
        try append(store, name("f"), [.created(.init())])
        try append(store, name("e"), [.deleted])

        #expect(try recordNames(store, store.schema.operations) == ["operations/a", "operations/c", "operations/f"])
        #expect(try recordNames(store, store.schema.doneOperations) == ["operations/b", "operations/d"])
        #expect(try recordNames(store, store.schema.tombstones) == ["operations/e"])
        for (id, done) in [("a", false), ("b", true), ("c", false), ("d", true), ("f", false)] {
            #expect(try store.read { try $0.operation(name(id)) }?.done == done, "\(id)")
        }
        // Pages read both in creation order, whichever filter and page size.
        func listed(_ filter: Filter, pageSize: Int) throws -> [String] {
            var ids: [String] = []
            var after: UInt64 = 0
            while true {
                let page = try store.read { try $0.list(ListQuery(collection: .root, filter: filter, afterCreateSequence: after, pageSize: pageSize)) }
                ids += page.operations.map(\.name.id)
                guard let next = page.resumeAfter else { return ids }
                after = next
            }
        }
        for pageSize in [1, 2, 100] {
            #expect(try listed(.all, pageSize: pageSize) == ["a", "b", "c", "d", "f"])
            #expect(try listed(Filter(parsing: "done = false"), pageSize: pageSize) == ["a", "c", "f"])
            #expect(try listed(Filter(parsing: "done = true"), pageSize: pageSize) == ["b", "d"])
        }

        // Replay writes the same bytes, and a record of an operation ending in a chunk moves too.
        let expected = try views(store)
        for chunk in [1, 3, 100] {
            try store.loseViews()
            try store.replayTail(chunk: chunk)
            #expect(try views(store) == expected, "chunk \(chunk)")
        }
        #expect(try Scrubber.run(store).isEmpty)
    }

    /// A done operation's record left among the running ones' is found by the scrub and moved by
    /// a repair; reads serve it meanwhile.
    @Test func aDoneRecordAmongTheRunningOnesIsFoundAndMoved() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("running"), [.created(.init())])
        try append(store, name("done"), [.created(.init()), .completed(.response(Fixtures.payload("R", "x")))])
        let key = Keys.sequence(2)
        try store.write { writer in
            let value = Array(try #require(try writer.txn.get(writer.schema.doneOperations, key: key)))
            _ = try writer.txn.delete(writer.schema.doneOperations, key: key)
            try writer.txn.put(writer.schema.operations, key: key, value: value)
        }
        #expect(try store.read { try $0.operation(name("done")) }?.done == true)
        let findings = try Scrubber.run(store)
        #expect(findings.map(\.operation) == [name("done")], "\(findings)")
        #expect(findings.first?.message.contains("belongs in done_by_creation") == true, "\(findings)")
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(60))
        #expect(report.remaining.isEmpty, "\(report.remaining)")
        #expect(try recordNames(store, store.schema.doneOperations) == ["operations/done"])
        #expect(try recordNames(store, store.schema.operations) == ["operations/running"])
        #expect(try Scrubber.run(store).isEmpty)
    }

    /// A store written before `done_by_creation` is converted when first opened for writing: each
    /// done operation's record moves there, bytes unchanged. No log is needed (this one was
    /// compacted); a conversion interrupted after some records, or followed by a build from
    /// before it (which put them back), starts again.
    @Test(arguments: [0, 5])
    func aStoreWithDoneRecordsAmongRunningOnesIsConvertedInPlace(_ leftMoved: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        do {
            let (store, _, _) = try variedStoreCompactedThroughASnapshot(directory)
            expected = try views(store)
            let done = try recordNames(store, store.schema.doneOperations)
            try #require(done.count > leftMoved + 5 && !(try recordNames(store, store.schema.operations)).isEmpty)
            try store.write { writer in
                var records: [([UInt8], [UInt8])] = []
                try writer.txn.withCursor(writer.schema.doneOperations) { cursor in
                    var entry = try cursor.first()
                    while let (key, value) = entry {
                        records.append((Array(key), Array(value)))
                        entry = try cursor.next()
                    }
                }
                for (key, value) in records.dropFirst(leftMoved) {
                    _ = try writer.txn.delete(writer.schema.doneOperations, key: key)
                    try writer.txn.put(writer.schema.operations, key: key, value: value)
                }
                try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeDoneApart.utf8))
            }
            #expect(try recordNames(store, store.schema.doneOperations).count == leftMoved)
        }
        try expectConverted(try Store(directory: directory.path, logger: logger), to: expected, dropped: [], scratch: directory.child("scratch"))
    }
}
