import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// What a build before `operations_by_creation` left: every live record in `operations` keyed
/// by its name (sealed over the name), and no `names`; with `withTombstones`, the dead ones
/// there too (a build before `tombstones`). The first `leftInTheNewViews` live records (by
/// name) also stay where they are, as a conversion interrupted after its first chunks leaves
/// them, and with `stale`, the new views also hold the record and `names` entry of an
/// operation the name-keyed view does not have (what this build wrote before a build from
/// before it deleted that operation). The view set is the caller's.
func keyRecordsByName(_ store: Store, withTombstones: Bool = false, leftInTheNewViews: Int = 0, stale: Bool = false) throws {
    let legacy = try store.environment.openDatabase("operations")
    try store.write { writer in
        let schema = writer.schema
        var live: [(name: [UInt8], sequence: UInt64)] = []
        try writer.txn.withCursor(schema.names) { cursor in
            var entry = try cursor.first()
            while let (key, value) = entry {
                live.append((Array(key), try #require(Keys.decodeSequence(try Checksum.open(schema.names, key: key, value: value)))))
                entry = try cursor.next()
            }
        }
        for (index, (name, sequence)) in live.enumerated() {
            let key = Keys.sequence(sequence)
            let database = try #require(try schema.liveRecords.first { try writer.txn.get($0, key: key) != nil })
            let value = try #require(try writer.txn.get(database, key: key))
            let body = Array(try Checksum.open(database, key: key, value: value))
            try writer.txn.put(legacy, key: name, value: Checksum.seal(key: name, body: body))
            guard index >= leftInTheNewViews else { continue }
            _ = try writer.txn.delete(database, key: key)
            _ = try writer.txn.delete(schema.names, key: name)
        }
        if stale, let (name, _) = live.first {
            let value = try #require(try writer.txn.get(legacy, key: name))
            var state = try RecordCodec.decodeState(try name.withUnsafeBytes { try Checksum.open(named: "operations", key: $0, value: value) })
            state = state.renamed(try OperationName(parsing: "operations/gone"))
            state.createSequence = 1_000_000
            try writer.putSealed(schema.names, key: Keys.name(state.name), body: Keys.sequence(state.createSequence))
            try writer.putSealed(schema.recordDatabase(IndexFacts(state)), key: Keys.sequence(state.createSequence), body: RecordCodec.encode(state))
        }
        guard withTombstones else { return }
        var dead: [([UInt8], [UInt8])] = []
        try writer.txn.withCursor(schema.tombstones) { cursor in
            var entry = try cursor.first()
            while let (key, value) = entry {
                dead.append((Array(key), Array(value)))
                entry = try cursor.next()
            }
        }
        for (key, value) in dead { try writer.txn.put(legacy, key: key, value: value) }
        try writer.txn.clear(schema.tombstones)
    }
}

/// `operations_by_creation` and `names`: a live operation's record under its create sequence, found
/// by name through `names` (docs/FORMAT.md), and the conversion of a store whose records are
/// keyed by name.
extension StoreTests {
    /// The live records' keys as create sequences, in order (running and done ones together),
    /// and each `names` entry.
    func recordLayout(_ store: Store) throws -> (records: [UInt64], names: [String: UInt64]) {
        try store.read { reader in
            var records: [UInt64] = []
            var names: [String: UInt64] = [:]
            for database in reader.schema.liveRecords {
                try reader.txn.withCursor(database) { cursor in
                    var entry = try cursor.first()
                    while let (key, _) = entry {
                        records.append(try #require(Keys.decodeSequence(key)))
                        entry = try cursor.next()
                    }
                }
            }
            records.sort()
            try reader.txn.withCursor(reader.schema.names) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    names[String(decoding: key, as: UTF8.self)] = Keys.decodeSequence(try Checksum.open(reader.schema.names, key: key, value: value))
                    entry = try cursor.next()
                }
            }
            return (records, names)
        }
    }

    /// What a conversion in place must leave: the views `expected`, this build's view set
    /// recorded, the old databases `dropped` gone, and a store the scrub and `verify` find whole.
    func expectConverted(_ reopened: Store, to expected: [[[UInt8]: [UInt8]]], dropped: [String], scratch: String,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try views(reopened) == expected, sourceLocation: sourceLocation)
        let viewSet = try reopened.read { try $0.txn.get(reopened.schema.meta, key: Schema.MetaKey.viewSet).map { String(decoding: $0, as: UTF8.self) } }
        #expect(viewSet == reopened.schema.viewSetDescription, sourceLocation: sourceLocation)
        #expect(try Set(reopened.environment.databaseNames()).isDisjoint(with: dropped), sourceLocation: sourceLocation)
        #expect(try Scrubber.run(reopened).isEmpty, sourceLocation: sourceLocation)
        #expect(try reopened.verify(scratchDirectory: scratch, logger: logger).isHealthy, sourceLocation: sourceLocation)
    }

    @Test func liveRecordsAreKeyedByCreateSequenceAndFoundByName() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        // Names in the reverse of their creation order: the records follow creation, not names.
        try append(store, name("z"), [.created(.init())])                                            // 1
        try append(store, name("a"), [.created(.init())])                                            // 2
        try append(store, name("m"), [.created(.init()), .progressed(metadata: nil)])                // 3, 4
        try append(store, name("a"), [.completed(.response(Fixtures.payload("R", "x"))), .deleted])  // 5, 6
        let layout = try recordLayout(store)
        #expect(layout.records == [1, 3])
        #expect(layout.names == ["operations/z": 1, "operations/m": 3], "a dead operation has no names entry")
        #expect(try recordNames(store, store.schema.tombstones) == ["operations/a"])
        #expect(try store.read { try $0.operation(name("m")) }?.version == 2)
        #expect(try store.read { try $0.operation(name("a")) }?.isDeleted == true)
        #expect(try store.read { try $0.list(ListQuery(collection: .root, pageSize: 10)) }.operations.map(\.name) == [name("z"), name("m")])

        // Replay writes the same bytes.
        let expected = try views(store)
        try store.loseViews()
        try store.replayTail(chunk: 2)
        #expect(try views(store) == expected)
    }

    /// A `names` entry that gives another operation's record, or none, is never served as the
    /// operation it names: DATA_LOSS, found by the scrub, repaired from the log.
    @Test func aNamesEntryPointingElsewhereIsRefusedFoundAndRepaired() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("a"), [.created(.init())])                        // 1
        try append(store, name("b"), [.created(.init()), .progressed(metadata: nil)])  // 2, 3
        try append(store, name("c"), [.created(.init())])                        // 4
        let expected = try store.read { reader in try ["a", "b", "c"].map { try reader.operation(name($0)) } }
        try store.write { writer in
            try writer.putSealed(writer.schema.names, key: Keys.name(name("a")), body: Keys.sequence(2))    // b's record
            try writer.putSealed(writer.schema.names, key: Keys.name(name("c")), body: Keys.sequence(99))   // no record
        }
        for target in ["a", "c"] {
            #expect { try store.read { try $0.operation(name(target)) } } throws: { error in
                let error = error as? StoreError
                return error?.kind == .dataLoss && error?.damage?.database == "names" && error?.damage?.operation == name(target)
            }
        }
        let findings = try Scrubber.run(store)
        #expect(Set(findings.compactMap(\.operation)).isSuperset(of: [name("a"), name("c")]), "\(findings)")
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(60))
        #expect(report.remaining.isEmpty, "\(report.remaining)")
        #expect(try Scrubber.run(store).isEmpty)
        let repaired = try store.read { reader in try ["a", "b", "c"].map { try reader.operation(name($0)) } }
        for (before, after) in zip(expected, repaired) {
            #expect(before?.name == after?.name && before?.createSequence == after?.createSequence && before?.metadata == after?.metadata)
        }
        #expect(try recordLayout(store).records == [1, 2, 4], "b's record was not taken for a's")
    }

    /// A store written before `operations_by_creation` is converted when first opened for writing:
    /// each record moves under its create sequence, with its `names` entry, and the name-keyed
    /// `operations` is dropped. No log is needed (this one was compacted); a conversion
    /// interrupted after some chunks, or followed by a build from before it, starts again and
    /// leaves nothing of what was there.
    @Test(arguments: [(0, false), (7, false), (7, true)])
    func aStoreWithRecordsKeyedByNameIsConvertedInPlace(_ leftInTheNewViews: Int, _ stale: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        do {
            let (store, _, _) = try variedStoreCompactedThroughASnapshot(directory)
            expected = try views(store)
            try #require(try recordLayout(store).records.count >= 30)
            try keyRecordsByName(store, leftInTheNewViews: leftInTheNewViews, stale: stale)
            try store.write { writer in
                try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeRecordsByCreation.utf8))
            }
            #expect(try recordLayout(store).records.count == leftInTheNewViews + (stale ? 1 : 0))
        }
        try expectConverted(try Store(directory: directory.path, logger: logger), to: expected, dropped: ["operations"],
                            scratch: directory.child("scratch"))
    }

    /// A name-keyed record that fails its checksum cannot say its create sequence: the conversion
    /// leaves it out, and a repair rebuilds it from the log.
    @Test func aDamagedRecordLeftOutByTheConversionIsRepairedFromTheLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let victim = name("victim")
        let expected: OperationState
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try append(store, name("before"), [.created(.init())])
            try append(store, victim, [.created(.init()), .progressed(metadata: Fixtures.payload("M", "half"))])
            try append(store, name("after"), [.created(.init())])
            expected = try #require(try store.read { try $0.operation(victim) })
            try keyRecordsByName(store)
            let legacy = try store.environment.openDatabase("operations")
            try store.environment.write { txn in
                var value = Array(try #require(try txn.get(legacy, key: Keys.name(victim))))
                value[value.count / 2] ^= 0x20
                try txn.put(legacy, key: Keys.name(victim), value: value)
                try txn.put(store.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeRecordsByCreation.utf8))
            }
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try recordLayout(reopened).names.keys.sorted() == ["operations/after", "operations/before"])
        let findings = try Scrubber.run(reopened)
        #expect(findings.contains { $0.operation == victim }, "\(findings)")
        let report = try reopened.repair(findings, actor: .engine, now: t0 + .seconds(60))
        #expect(report.remaining.isEmpty, "\(report.remaining)")
        let repaired = try #require(try reopened.read { try $0.operation(victim) })
        #expect(repaired.createSequence == expected.createSequence && repaired.metadata == expected.metadata)
        #expect(try Scrubber.run(reopened).isEmpty)
    }
}
