import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// `history_by_creation`: every event's history entry under its operation's create sequence
/// (docs/FORMAT.md), and the conversion of a store whose history is keyed by name.
extension StoreTests {
    /// The history entries, as (create sequence, sequence), in key order.
    func historyKeys(_ store: Store) throws -> [(createSequence: UInt64, sequence: UInt64)] {
        try store.read { reader in
            var keys: [(UInt64, UInt64)] = []
            try reader.txn.withCursor(reader.schema.history) { cursor in
                var entry = try cursor.first()
                while let (key, _) = entry {
                    keys.append(try #require(Keys.decodeHistory(key)))
                    entry = try cursor.next()
                }
            }
            return keys
        }
    }

    @Test func historyEntriesAreKeyedByTheOperationsCreateSequence() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        // Names in the reverse of their creation order: the entries follow creation, not names.
        try append(store, name("z"), [.created(.init())])                    // 1
        try append(store, name("a"), [.created(.init())])                    // 2
        try append(store, name("z"), [.progressed(metadata: nil)])            // 3
        try append(store, name("a"), [.completed(.response(Fixtures.payload("R", "x"))), .deleted])  // 4, 5
        #expect(try historyKeys(store).map { [$0.createSequence, $0.sequence] } == [[1, 1], [1, 3], [2, 2], [2, 4], [2, 5]])
        // Read back per operation, a deleted one's included.
        #expect(try store.read { try $0.events(of: name("z"), after: 0, limit: 10) }.map(\.sequence) == [1, 3])
        #expect(try store.read { try $0.events(of: name("a"), after: 2, limit: 10) }.map(\.sequence) == [4, 5])
        #expect(try store.read { try $0.events(of: name("never"), after: 0, limit: 10) }.isEmpty)

        // Replay writes the same entries.
        let expected = try views(store)
        try store.loseViews()
        try store.replayTail(chunk: 2)
        #expect(try views(store) == expected)
    }

    /// What a build before `history_by_creation` left: the same views, with `history` keyed by
    /// name (name · 0x00 · sequence), records keyed by name (`keyRecordsByName`), and the view
    /// set naming them. Any entries already in
    /// `history_by_creation` stand for a conversion interrupted part way.
    func keyHistoryByName(_ store: Store, leftInTheNewView: [[UInt8]] = []) throws {
        let legacy = try store.environment.openDatabase("history")
        let keys = try historyKeys(store)  // not inside the write: one thread, one hold of the map
        try store.write { writer in
            for (createSequence, sequence) in keys {
                let event = try #require(try writer.reader.event(at: sequence))
                #expect(try writer.reader.operation(event.name)?.createSequence == createSequence)
                let key = Array(event.name.description.utf8) + [0] + Keys.sequence(sequence)
                try writer.txn.put(legacy, key: key, value: Checksum.seal(key: key, body: []))
            }
            try writer.txn.clear(writer.schema.history)
            for key in leftInTheNewView { try writer.putSealed(writer.schema.history, key: key, body: []) }
        }
        // Those builds also kept records by name.
        try keyRecordsByName(store)
        try store.write { writer in
            try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeHistoryByCreation.utf8))
        }
    }

    @Test func aStoreWithHistoryKeyedByNameIsConvertedInPlace() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        let histories: [OperationName: [UInt64]]
        do {
            // Compacted: the log alone cannot rebuild the views, and the conversion needs no more.
            let (store, _, _) = try variedStoreCompactedThroughASnapshot(directory)
            expected = try views(store)
            let keys = try historyKeys(store)
            histories = try store.read { reader in
                var histories: [OperationName: [UInt64]] = [:]
                for (_, sequence) in keys {
                    let event = try #require(try reader.event(at: sequence))
                    histories[event.name, default: []].append(sequence)
                }
                return histories
            }
            try #require(histories.count >= 10)
            try keyHistoryByName(store, leftInTheNewView: [Keys.history(createSequence: 3, 999)])
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        for (name, sequences) in histories {
            #expect(try reopened.read { try $0.events(of: name, after: 0, limit: 1000) }.map(\.sequence) == sequences)
        }
        try expectConverted(reopened, to: expected, dropped: ["history", "operations"], scratch: directory.child("scratch"))
    }

    @Test func aHistoryEntryUnderAnotherCreateSequenceIsFoundAndDropped() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("a"), [.created(.init())])                    // 1
        try append(store, name("b"), [.created(.init()), .progressed(metadata: nil)])  // 2, 3
        let expected = try views(store)
        // Event 3 (of b, created at 2) also filed under a's create sequence, and an entry for an
        // event the log does not hold.
        let misfiled = Keys.history(createSequence: 1, 3)
        let missing = Keys.history(createSequence: 2, 42)
        try store.write { writer in
            try writer.putSealed(writer.schema.history, key: misfiled, body: [])
            try writer.putSealed(writer.schema.history, key: missing, body: [])
        }
        // a's history read through its own create sequence names b's event: refused, not served.
        #expect(throws: StoreError.self) { try store.read { try $0.events(of: name("a"), after: 0, limit: 10) } }

        let findings = try Scrubber.run(store)
        let stale = findings.filter { $0.kind == .historyStale }
        #expect(Set(stale.compactMap(\.key)) == [misfiled, missing], "\(findings)")
        #expect(stale.first { $0.key == misfiled }?.operation == name("b"))
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(60))
        #expect(report.remaining.isEmpty, "\(report.remaining)")
        #expect(try Scrubber.run(store).isEmpty)
        // Both were rebuilt (the misfiled entry was in a's history and of b's event), each with a
        // `repaired` event; a's history no longer names b's event.
        #expect(Set(report.repaired) == [name("a"), name("b")])
        #expect(try store.read { try $0.events(of: name("a"), after: 0, limit: 10) }.map(\.kind.label) == ["created", "repaired"])
        #expect(try store.read { try $0.events(of: name("b"), after: 0, limit: 10) }.map(\.sequence).prefix(2) == [2, 3])
        #expect(try views(store)[0].count == expected[0].count)
    }
}
