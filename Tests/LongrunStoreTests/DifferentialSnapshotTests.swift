import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Differential snapshots (issue 16): the records of only what changed since a full base, restored
/// with that base to exactly the views a full snapshot at the same sequence gives.
@Suite("Store: differential snapshots")
struct DifferentialSnapshotTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)

    func name(_ index: Int) -> OperationName {
        try! OperationName(collection: CollectionName(parent: index.isMultiple(of: 3) ? "tenants/acme" : ""), id: "op-\(index)")
    }

    func append(_ store: Store, _ index: Int, _ kinds: [Event.Kind], actor: Actor = Fixtures.producer) throws {
        for kind in kinds {
            try store.write { writer in try writer.append([.init(actor: actor, kind: kind)], name: name(index), time: t0 + .seconds(index)) }
        }
    }

    /// Operations in every state that puts something in an index (as StoreTests' varied operations).
    func createVaried(_ store: Store, _ range: Range<Int>, actor: Actor = Fixtures.producer) throws {
        for index in range {
            var created = Event.Created()
            if index.isMultiple(of: 2) { created.requestID = "r\(index)" }
            try append(store, index, [.created(created), .progressed(metadata: nil)], actor: actor)
            switch index % 5 {
            case 0: try append(store, index, [.cancelRequested(reason: "", graceDeadline: t0 + .seconds(index))], actor: actor)
            case 1: try append(store, index, [.completed(.response(Payload(typeURL: "type.googleapis.com/x", value: [1, 2, 3])))], actor: actor)
            case 2: try append(store, index, [.completed(.error(Status(code: 9, message: "no")))], actor: actor)
            case 3: try append(store, index, [.holdSet(reason: "audit")], actor: actor)
            default: break
            }
        }
    }

    /// Every entry of every view, and the applied sequence: what loading a restore point must reproduce.
    func views(_ store: Store) throws -> [[[UInt8]: [UInt8]]] {
        try store.read { reader in
            var all = try reader.schema.views.map { database in
                var entries: [[UInt8]: [UInt8]] = [:]
                try reader.txn.withCursor(database) { cursor in
                    var entry = try cursor.first()
                    while let (key, value) = entry {
                        entries[Array(key)] = Array(value)
                        entry = try cursor.next()
                    }
                }
                return entries
            }
            all.append([Array("applied".utf8): Keys.sequence(try reader.appliedSequence())])
            return all
        }
    }

    /// The views a rebuild from `snapshot` up to its own sequence gives.
    func restored(_ store: Store, from snapshot: SnapshotFile.Info, into directory: String) throws -> [[[UInt8]: [UInt8]]] {
        try views(try Store.rebuild(from: store, into: directory, upTo: snapshot.sequence, snapshot: snapshot, logger: logger))
    }

    /// A full snapshot of `store` now, in a folder of its own (so that it is no base for anything).
    func fullSnapshot(_ store: Store, _ directory: TemporaryDirectory, _ label: String) throws -> SnapshotFile.Info {
        try SnapshotFile.write(store, into: directory.child("full-\(label)"), keep: 1, createdUnixNanos: 0)
    }

    func decode(_ body: [UInt8]) throws -> OperationState {
        try body.withUnsafeBytes { try RecordCodec.decodeState($0) }
    }

    func flip(_ path: String, at offset: off_t) {
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 0
        pread(fd, &byte, 1, offset)
        byte ^= 0xFF
        pwrite(fd, &byte, 1, offset)
        close(fd)
    }

    /// A store with 40 operations, a full base, then changes of every kind and a differential on it.
    func storeWithADifferential(_ directory: TemporaryDirectory) throws -> (Store, base: SnapshotFile.Info, differential: SnapshotFile.Info) {
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<40)
        let base = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1)
        try createVaried(store, 40..<44)                                      // created
        try append(store, 4, [.progressed(metadata: Fixtures.payload("M", "more"))])  // updated
        try append(store, 9, [.completed(.response(Fixtures.payload("R")))])  // completed
        try append(store, 14, [.completed(.error(Status(code: 1, message: "cancelled")))])  // cancelled (its cancel requested before)
        try append(store, 6, [.deleted], actor: Fixtures.consumer)            // deleted
        try append(store, 11, [.expired], actor: .engine)                     // expired by retention
        let differential = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 2, kind: .differential)
        return (store, base, differential)
    }

    @Test func aBaseAndADifferentialRestoreTheViewsOfAFullSnapshotAtTheSameSequence() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (store, base, first) = try storeWithADifferential(directory)
        #expect(first.baseSequence == base.sequence)
        #expect(first.path.hasSuffix(SnapshotFile.fileName(sequence: first.sequence, base: base.sequence)))
        let header = try SnapshotFile.verify(first.path)
        #expect(header.version == SnapshotFile.version && header.baseSequence == base.sequence)
        #expect(header.baseChainHash == (try SnapshotFile.verify(base.path).chainHash))
        // Only what changed: 4 created, and 4, 9, 14, 6, 11.
        #expect(header.records == 9)
        #expect(try SnapshotFile.readHeader(first.path).records == 9)
        let expected = try views(store)
        #expect(try restored(store, from: first, into: directory.child("r1")) == expected)
        #expect(try restored(store, from: fullSnapshot(store, directory, "1"), into: directory.child("f1")) == expected)

        // Changed again, some of them, and others: the second is built from the first and the log
        // after it, still on the same base, and holds the union.
        try append(store, 4, [.completed(.response(Fixtures.payload("R2")))])
        try append(store, 41, [.progressed(metadata: nil)])
        try append(store, 20, [.deleted], actor: Fixtures.consumer)
        try append(store, 12, [.expired], actor: .engine)
        try createVaried(store, 44..<46)
        let second = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 3, kind: .differential)
        #expect(second.baseSequence == base.sequence)
        #expect(try SnapshotFile.verify(second.path).records == 9 + 4)
        try createVaried(store, 46..<48)  // after the second: replayed from the log
        let atSecond = try restored(store, from: second, into: directory.child("r2"))
        let fullAtSecond = try Store.rebuild(from: store, into: directory.child("f2"), upTo: second.sequence, logger: logger)
        #expect(try atSecond == views(fullAtSecond))

        // The views lost: recovery loads the newest restore point (the second with its base) and folds the tail.
        #expect(try store.usableSnapshot(upTo: .max) == second)
        let before = try views(store)
        try store.loseViews()
        try store.replayTail(chunk: 3)
        #expect(try views(store) == before)
        #expect(try Scrubber.run(store).isEmpty)
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
    }

    @Test func aRemovedRecordIsAnEmptyEntryAndRestoresAsAbsent() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<20)
        let base = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1)
        // A record gone from the views (as repair drops one the log never created), and an event
        // naming it (the fold ignores it: there is no operation).
        try store.write { writer in _ = try writer.deleteRecord(of: name(7)) }
        try append(store, 7, [.progressed(metadata: nil)])
        try append(store, 8, [.progressed(metadata: nil)])
        let differential = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 2, kind: .differential)
        #expect(differential.baseSequence == base.sequence)
        let keys: Set<[UInt8]> = [Keys.name(name(7)), Keys.name(name(8)), Keys.name(name(9))]
        let records = try SnapshotFile.operationRecords(differential, names: keys)
        #expect(records[Keys.name(name(7))] == nil, "removed in the differential, although its base holds it")
        #expect(try SnapshotFile.operationRecords(base, names: keys)[Keys.name(name(7))] != nil)
        let eight = try #require(records[Keys.name(name(8))])
        #expect(try decode(eight).version == (try store.read { try $0.operation(name(8)) })?.version, "from the differential")
        #expect(records[Keys.name(name(9))] != nil, "unchanged: from the base")
        let fromDifferential = try Store.rebuild(from: store, into: directory.child("d"), snapshot: differential, logger: logger)
        #expect(try fromDifferential.read { try $0.operation(name(7)) } == nil)
        let full = try SnapshotFile.write(store, into: directory.child("full"), keep: 1, createdUnixNanos: 3)
        #expect(try views(fromDifferential) == views(try Store.rebuild(from: store, into: directory.child("f"), snapshot: full, logger: logger)))
    }

    @Test func aDifferentialServesRebuildVerifyAndRepairAfterTheLogWasCompactedThroughIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (store, base, differential) = try storeWithADifferential(directory)
        try createVaried(store, 50..<53)
        try store.compactLog(through: differential.sequence)
        #expect(try store.read { try $0.logTail() } == differential.sequence + 1)
        #expect(try store.usableSnapshot(upTo: .max) == differential, "its base's events are gone, and it still anchors")
        let expected = try views(store)
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: differential, logger: logger)
        #expect(try views(rebuilt) == expected)
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
        #expect(try Scrubber.run(store).isEmpty)
        // The base alone is before the log: not a restore point any more.
        #expect(throws: StoreError.self) { try Store.rebuild(from: store, into: directory.child("from-base"), snapshot: base, logger: logger) }

        // Repair finds the state of an operation changed since the base in the differential, and
        // of one unchanged in the base.
        let records = try SnapshotFile.operationRecords(differential, names: [Keys.name(name(9)), Keys.name(name(10))])
        #expect(try records[Keys.name(name(9))].map { try decode($0).done } == true, "completed after the base")
        #expect(try records[Keys.name(name(10))].map { try decode($0).done } == false)
        for target in [9, 10] {
            let before = try store.read { try $0.operation(name(target)) }
            try store.write { writer in
                var state = try #require(try writer.reader.operation(name(target)))
                state.version += 7
                try writer.putRecord(state, previous: state)
            }
            let report = try store.repair([], operations: [name(target)], actor: .engine, now: t0 + .seconds(500))
            #expect(report.repaired == [name(target)])
            #expect(report.unrepairable.isEmpty && report.remaining.isEmpty)
            let after = try store.read { try $0.operation(name(target)) }
            #expect(after?.version == before?.version && after?.done == before?.done)
        }
    }

    @Test func aDamagedOrMissingBaseMakesItsDifferentialUnusable() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (store, base, differential) = try storeWithADifferential(directory)
        #expect(try store.usableSnapshot(upTo: .max) == differential)
        flip(base.path, at: 200)
        // Neither it nor its base: the log (nothing was compacted).
        #expect(try store.usableSnapshot(upTo: .max) == nil)
        #expect(try store.usableSnapshot(upTo: .max, checkContents: false) == differential, "the headers alone still agree")
        #expect {
            try Store.rebuild(from: store, into: directory.child("r"), snapshot: differential, logger: logger)
        } throws: { error in
            "\(error)".contains("cannot be restored: its base \(base.path) is damaged")
        }
        let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
        #expect(report.problems.map(\.kind) == [.snapshotCorrupt, .snapshotCorrupt])
        #expect(report.problems.contains { $0.message.contains("differential snapshot \(differential.path) cannot be restored") })
        let findings = try Scrubber.run(store)
        #expect(Set(findings.map(\.database)) == [base.path, differential.path])
        #expect(findings.allSatisfy { $0.kind == .snapshotDamaged })

        // Missing: the same, and another restore point (an older full snapshot) serves.
        unlink(base.path)
        #expect(try store.usableSnapshot(upTo: .max) == nil)
        #expect {
            try SnapshotFile.verifyRestorePoint(differential)
        } throws: { error in
            "\(error)".contains("its base \(base.path) is missing")
        }
        #expect(try Scrubber.run(store).map(\.database) == [differential.path])
    }

    @Test func aDifferentialWithADamagedBaseFallsBackToAnOlderRestorePoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<20)
        let older = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 5, createdUnixNanos: 1)
        try createVaried(store, 20..<40)
        let base = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 5, createdUnixNanos: 2)
        try append(store, 3, [.progressed(metadata: nil)])
        let differential = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 5, createdUnixNanos: 3, kind: .automatic)
        #expect(differential.baseSequence == base.sequence)
        try append(store, 5, [.progressed(metadata: nil)])
        flip(base.path, at: 200)
        #expect(try store.usableSnapshot(upTo: .max) == older)
        // Views lost: recovered from the older full snapshot and the log after it.
        let before = try views(store)
        try store.loseViews()
        try store.replayTail(chunk: 10)
        #expect(try views(store) == before)
        // Compaction never goes through it.
        #expect(throws: StoreError.self) { try store.compactLog(through: differential.sequence) }
        // Once the damaged base is deleted (as the scrub's finding says), no snapshot is written on it.
        unlink(base.path)
        let next = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 5, createdUnixNanos: 4, kind: .automatic)
        #expect(next.baseSequence != base.sequence)
        #expect(try store.usableSnapshot(upTo: .max) == next)
    }

    @Test func aBaseOfAnotherHistoryOrAnotherFileIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (store, base, differential) = try storeWithADifferential(directory)
        // Another full snapshot put in the base's place: intact, but not the one it was written on.
        let other = try Store(directory: directory.child("other"), logger: logger)
        try createVaried(other, 0..<40, actor: Fixtures.consumer)
        let foreign = try SnapshotFile.write(other, into: directory.child("foreign"), keep: 1, createdUnixNanos: 1)
        #expect(foreign.sequence == base.sequence)
        #expect(try SnapshotFile.verify(foreign.path).chainHash != SnapshotFile.verify(base.path).chainHash)
        #expect(rename(foreign.path, base.path) == 0)
        #expect(try store.usableSnapshot(upTo: .max) == nil)
        #expect(throws: StoreError.self) { try SnapshotFile.verifyRestorePoint(differential) }
    }

    @Test func pruningKeepsEveryBaseAKeptDifferentialNeeds() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<20)
        let paths = { Set(try SnapshotFile.list(in: store.snapshotDirectory).map(\.path)) }
        let base = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 1)
        try append(store, 1, [.progressed(metadata: nil)])
        let first = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 2, kind: .differential)
        #expect(try paths() == [first.path, base.path], "keep 1: the newest restore point, with its base")
        try append(store, 2, [.progressed(metadata: nil)])
        let second = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 3, kind: .differential)
        #expect(try paths() == [second.path, base.path])
        try append(store, 3, [.progressed(metadata: nil)])
        let newBase = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 2, createdUnixNanos: 4)
        #expect(try paths() == [newBase.path, second.path, base.path], "keep 2: the new full one, and the differential with its base")
        try append(store, 4, [.progressed(metadata: nil)])
        let third = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 2, createdUnixNanos: 5, kind: .differential)
        #expect(third.baseSequence == newBase.sequence, "on the newest full snapshot")
        #expect(try paths() == [third.path, newBase.path])
    }

    @Test func automaticWritesADifferentialOnlyWhenFewerThanHalfTheRecordsChanged() throws {
        #expect(SnapshotFile.prefersDifferential(changed: 0, records: 1))
        #expect(SnapshotFile.prefersDifferential(changed: 49, records: 100))
        #expect(!SnapshotFile.prefersDifferential(changed: 50, records: 100))
        #expect(!SnapshotFile.prefersDifferential(changed: 0, records: 0))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<20)
        let first = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1, kind: .automatic)
        #expect(!first.isDifferential, "no base yet")
        for index in 0..<9 { try append(store, index, [.progressed(metadata: nil)]) }
        let second = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 2, kind: .automatic)
        #expect(second.baseSequence == first.sequence, "9 of 20 changed")
        // Counted since the base: 9, and 1 more changed twice, is 10 of 20.
        try append(store, 1, [.progressed(metadata: nil)])
        try append(store, 1, [.progressed(metadata: nil)])
        try append(store, 9, [.progressed(metadata: nil)])
        try store.read { reader in
            let sequence = try reader.appliedSequence()
            let plan = try SnapshotFile.differentialPlan(reader, directory: store.snapshotDirectory, sequence: sequence)
            #expect(plan?.base.sequence == first.sequence && plan?.names.count == 10, "the second's 9 and one more")
            #expect(try SnapshotFile.differentialPlan(reader, directory: store.snapshotDirectory, sequence: sequence, atMost: 9) == nil,
                    "counting stops once a differential is out of the question")
        }
        let third = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 3, kind: .automatic)
        #expect(!third.isDifferential)
        // Asked for the same sequence again, the full one there is returned.
        #expect(try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 4, kind: .differential) == third)
    }

    @Test func onlyAFullSnapshotOfRecordsOfThisBuildsRulesIsABase() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("data"), logger: logger)
        try createVaried(store, 0..<20)
        _ = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1, version: 1)
        try append(store, 1, [.progressed(metadata: nil)])
        #expect(try !SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 2, kind: .differential).isDifferential,
                "a snapshot of every view is no base")
    }

    @Test func namesOfBothKindsParseAndOthersDoNot() {
        #expect(SnapshotFile.parseName(SnapshotFile.fileName(sequence: 12, base: nil))! == (12, nil))
        #expect(SnapshotFile.parseName(SnapshotFile.fileName(sequence: 12, base: 5))! == (12, 5))
        #expect(SnapshotFile.parseName("snapshot-00000000000000000012-on-00000000000000000012.lrsnap") == nil, "a base before it")
        #expect(SnapshotFile.parseName("snapshot-12-on-.lrsnap") == nil)
        #expect(SnapshotFile.parseName("snapshot-x.lrsnap") == nil)
    }
}
