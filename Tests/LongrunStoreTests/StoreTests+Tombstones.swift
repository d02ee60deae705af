import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// Deleted and expired operations keep their records (their names are not reused while their
/// history is kept) in `tombstones`, apart from the live ones in `operations` (docs/FORMAT.md).
extension StoreTests {
    /// The names of the operations whose records `database` holds, in its keys' order (creation
    /// for `operations`, names for `tombstones`).
    func recordNames(_ store: Store, _ database: Database) throws -> [String] {
        try store.read { reader in
            var names: [String] = []
            try reader.txn.withCursor(database) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    let body = try Checksum.open(database, key: key, value: value)
                    names.append(try RecordCodec.decodeState(body).name.description)
                    entry = try cursor.next()
                }
            }
            return names
        }
    }

    /// A store of 50 varied operations (``appendVariedOperations(_:from:count:)``) whose log is
    /// compacted through a snapshot taken after the first 40 (8 of them dead by then, 2 more dying
    /// after it), and its views as they were at the snapshot.
    func variedStoreCompactedThroughASnapshot(_ directory: TemporaryDirectory) throws
        -> (store: Store, snapshot: SnapshotFile.Info, viewsAtSnapshot: [[[UInt8]: [UInt8]]])
    {
        let store = try Store(directory: directory.path, logger: logger)
        try appendVariedOperations(store, from: 0, count: 40)
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        let viewsAtSnapshot = try views(store)
        try appendVariedOperations(store, from: 40, count: 10)
        try store.compactLog(through: snapshot.sequence, pause: .zero)
        return (store, snapshot, viewsAtSnapshot)
    }

    @Test func aDeadOperationsRecordLeavesOperationsForTombstones() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("live"), [.created(.init()), .progressed(metadata: Fixtures.payload("M", "running"))])
        try append(store, name("deleted"), [.created(.init(requestID: "r1")), .progressed(metadata: Fixtures.payload("M", "x")), .deleted])
        try append(store, name("expired"), [.created(.init()), .completed(.response(Fixtures.payload("R", "done"))), .expired])

        #expect(try recordNames(store, store.schema.operations) == ["operations/live"])
        #expect(try recordNames(store, store.schema.tombstones) == ["operations/deleted", "operations/expired"])
        // Still read as they were: deleted (so not served, and the name not reusable), payloads dropped.
        let deleted = try #require(try store.read { try $0.operation(name("deleted")) })
        #expect(deleted.isDeleted && deleted.metadata == nil)
        #expect(try store.read { try $0.operation(forRequestID: "r1", in: .root)?.name } == name("deleted"))
        #expect(try store.read { try $0.liveOperationCount() } == 1)

        // Replay (one chunk folding each operation's events at once) leaves the same bytes.
        let expected = try views(store)
        try store.loseViews()
        try store.replayTail(chunk: 100)
        #expect(try views(store) == expected)
    }

    /// The data file grew under retention because dead records shrank in place and kept the live
    /// records' pages a quarter full. Now the live view gives back every page its dead records held.
    @Test func pagesOfDeadOperationsGoBackToLMDB() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        let metadata = Fixtures.payload("M", String(repeating: "m", count: 400))
        for round in 0..<2 {
            let names = (0..<1_000).map { name("op-\(round)-\($0)") }
            try store.write { writer in
                for op in names { try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: op, time: t0) }
            }
            try store.write { writer in
                for op in names { try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: metadata))], name: op, time: t0) }
            }
            try store.write { writer in
                for op in names { try writer.append([.init(actor: Fixtures.consumer, kind: .deleted)], name: op, time: t0) }
            }
        }
        let (live, livePageBytes) = try store.read { try $0.txn.statistics(store.schema.operations) }
        #expect(live == 0)
        #expect(livePageBytes <= 4096, "the live view keeps \(livePageBytes) bytes of pages for no record")
        let (dead, deadPageBytes) = try store.read { try $0.txn.statistics(store.schema.tombstones) }
        #expect(dead == 2_000)
        // A tombstone is about 100 bytes with its key; its pages at least half full.
        #expect(deadPageBytes <= dead * 300, "\(deadPageBytes) bytes of pages for \(dead) tombstones")
    }

    /// A store written before `tombstones` existed is converted when opened for writing: the dead
    /// records move, byte for byte, with no need of the log (this one was compacted).
    @Test func aStoreWithTombstonesAmongLiveRecordsIsConvertedInPlace() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        do {
            let (store, info, _) = try variedStoreCompactedThroughASnapshot(directory)
            #expect(try store.read { try $0.logTail() } == info.sequence + 1)
            expected = try views(store)
            // The 8 dead before the snapshot were forgotten with their history; 2 died after it.
            #expect(try recordNames(store, store.schema.tombstones).count == 2)
            // What the previous build left: every record in `operations` (keyed by name), no
            // `tombstones` in the view set.
            try keyRecordsByName(store, withTombstones: true)
            try store.write { writer in
                try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeTombstones.utf8))
            }
        }
        try expectConverted(try Store(directory: directory.path, logger: logger), to: expected, dropped: ["operations"],
                            scratch: directory.child("scratch"))
    }

    @Test func aRecordInTheWrongDatabaseIsFoundAndRepaired() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("live"), [.created(.init()), .progressed(metadata: nil)])
        try append(store, name("dead"), [.created(.init()), .deleted])
        try append(store, name("twice"), [.created(.init())])
        let expected = try views(store)
        try store.write { writer in
            // A live record moved among the tombstones; a dead one among the live (with its
            // `names` entry); a live one with a stale tombstone.
            let live = try #require(try writer.reader.operation(name("live")))
            _ = try writer.deleteRecord(of: name("live"))
            try writer.putSealed(writer.schema.tombstones, key: Keys.name(name("live")), body: RecordCodec.encode(live))
            let dead = try #require(try writer.reader.operation(name("dead")))
            _ = try writer.deleteRecord(of: name("dead"))
            try writer.putSealed(writer.schema.operations, key: Keys.sequence(dead.createSequence), body: RecordCodec.encode(dead))
            try writer.putSealed(writer.schema.names, key: Keys.name(name("dead")), body: Keys.sequence(dead.createSequence))
            try writer.txn.put(writer.schema.tombstones, key: Keys.name(name("twice")), value: Checksum.seal(key: Keys.name(name("twice")), body: RecordCodec.encode(
                try #require(try writer.reader.operation(name("dead"))).renamed(name("twice")))))
        }
        let findings = try Scrubber.run(store)
        #expect(Set(findings.compactMap(\.operation)) == [name("live"), name("dead"), name("twice")], "\(findings)")
        #expect(findings.allSatisfy { ($0.kind == .viewDiffers || $0.kind == .indexMissing && $0.database == "names") && $0.repairable }, "\(findings)")
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(60))
        #expect(report.remaining.isEmpty, "\(report.remaining)")
        #expect(try recordNames(store, store.schema.operations) == ["operations/live", "operations/twice"])
        #expect(try recordNames(store, store.schema.tombstones) == ["operations/dead"])
        #expect(try Scrubber.run(store).isEmpty)
        // The repair appended a `repaired` event to each; apart from those, the views are as they were.
        #expect(try views(store)[0].count == expected[0].count)
    }


    // MARK: forgotten with their history

    /// Compacting the log forgets the dead operations whose every event it drops: their tombstones
    /// and request ids go, their names may be created again; the dead whose history is still (in
    /// part) in the log, and every live operation, are kept. A rebuild from the snapshot, `verify`
    /// and the scrub agree with the store.
    @Test func compactionForgetsTheDeadWhoseWholeHistoryItDrops() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("deleted"), [.created(.init(requestID: "r-deleted")), .deleted])
        try append(store, name("expired"), [.created(.init()), .completed(.response(Fixtures.payload("R", "x"))), .expired])
        try append(store, name("repaired-later"), [.created(.init()), .deleted])
        try append(store, name("dies-later"), [.created(.init(requestID: "r-later"))])
        try append(store, name("old-but-live"), [.created(.init(requestID: "r-live"))])
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        try append(store, name("repaired-later"), [.repaired(detail: "after the snapshot")])
        try append(store, name("dies-later"), [.deleted])

        #expect(try store.compactLog(through: snapshot.sequence, pause: .zero) == snapshot.sequence)
        #expect(try recordNames(store, store.schema.tombstones) == ["operations/dies-later", "operations/repaired-later"])
        #expect(try recordNames(store, store.schema.operations) == ["operations/old-but-live"])
        #expect(try store.read { try $0.operation(name("deleted")) } == nil)
        #expect(try store.read { try $0.operation(name("expired")) } == nil)
        #expect(try store.read { try $0.operation(forRequestID: "r-deleted", in: .root) } == nil, "its request id goes with it")
        #expect(try store.read { try $0.operation(forRequestID: "r-later", in: .root)?.name } == name("dies-later"))
        #expect(try store.read { try $0.operation(forRequestID: "r-live", in: .root)?.name } == name("old-but-live"))
        #expect(try store.read { try $0.forgottenThrough() } == snapshot.sequence)
        let expected = try views(store)
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: snapshot, logger: logger)
        #expect(try views(rebuilt) == expected, "loading the snapshot forgets what compaction forgot")
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
        #expect(try Scrubber.run(store).isEmpty)

        // The name is free: the lifecycle lets it be created again, as a new operation.
        let state = try store.read { try $0.operation(name("deleted")) }
        let decision = try Lifecycle.decide(.create(.init(name: name("deleted"))), state: state,
                                            context: .init(now: t0, actor: Fixtures.producer, defaultCancelGrace: .seconds(30)))
        try append(store, name("deleted"), decision.events.map(\.kind))
        let again = try #require(try store.read { try $0.operation(name("deleted")) })
        #expect(!again.isDeleted && again.createSequence > snapshot.sequence)
        #expect(try store.read { try $0.events(of: name("deleted"), after: 0, limit: 100) }.map(\.sequence) == [again.createSequence], "only the new operation's history")
        #expect(try Scrubber.run(store).isEmpty)
    }

    /// Loading a snapshot older than the log's base keeps a tombstone the log repairs after the
    /// snapshot (compaction kept it: its last event is in the log), and forgets one whose name the
    /// log creates again (compaction forgot it first), even when the new operation is repaired too.
    @Test func loadingASnapshotForgetsWhatCompactionForgotAndNothingElse() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try append(store, name("repaired"), [.created(.init()), .deleted])
            try append(store, name("reborn"), [.created(.init()), .deleted])
            let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
            try append(store, name("repaired"), [.repaired(detail: "after the snapshot")])
            try store.compactLog(through: snapshot.sequence, pause: .zero)
            #expect(try recordNames(store, store.schema.tombstones) == ["operations/repaired"])
            try append(store, name("reborn"), [.created(.init()), .repaired(detail: "the new one")])
            #expect(try store.read { try $0.operation(name("reborn")) }?.isDeleted == false)

            expected = try views(store)
            let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: snapshot, logger: logger)
            #expect(try views(rebuilt) == expected)
            #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
            #expect(try Scrubber.run(store).isEmpty)
            // Views lost: the next open loads the snapshot and folds the log after it.
            try store.environment.write { txn in
                for database in store.schema.views { try txn.clear(database) }
                try txn.put(store.schema.meta, key: Schema.MetaKey.appliedSequence, value: Keys.sequence(0))
            }
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try views(reopened) == expected)
    }

    /// Compacting through a snapshot at the head keeps the newest event: the next event follows it
    /// (an emptied log would start again at 1, and the store would not open, its views ahead of
    /// its log), and an operation whose last event it is stays as it is.
    @Test func compactionThroughTheHeadKeepsTheNewestEvent() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try append(store, name("a"), [.created(.init()), .deleted])
            let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
            #expect(snapshot.sequence == 2)
            #expect(try store.compactLog(through: snapshot.sequence, pause: .zero) == 1)
            #expect(try store.read { try $0.logTail() } == 2)
            #expect(try recordNames(store, store.schema.tombstones) == ["operations/a"], "its deletion is still in the log")
            try append(store, name("b"), [.created(.init())])
            #expect(try store.read { try $0.logHead() } == 3)
            #expect(try store.compactLog(through: snapshot.sequence, pause: .zero) == 1, "the deletion goes once it is not the newest")
            #expect(try recordNames(store, store.schema.tombstones).isEmpty)
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try reopened.read { try $0.logHead() } == 3)
        #expect(try reopened.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
    }

    /// A store whose log an older build compacted to nothing (through a snapshot at the head)
    /// opens, and its next event follows the last one there was, its chain intact.
    @Test func aLogCompactedToNothingByAnOlderBuildOpensAndGoesOn() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try append(store, name("a"), [.created(.init()), .progressed(metadata: nil)])
            let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
            // What the older build's compaction did: every event and its history entry gone, the
            // last one's hash the base.
            try store.write { writer in
                let hash = try #require(try writer.reader.chainHash(at: snapshot.sequence))
                for sequence in 1...snapshot.sequence {
                    let event = try #require(try writer.reader.txn.get(writer.schema.log, key: Keys.sequence(sequence)).map {
                        try writer.reader.decodeEvent($0, sequence: sequence)
                    })
                    let created = try #require(try writer.reader.operation(event.name)).createSequence
                    _ = try writer.txn.delete(writer.schema.history, key: Keys.history(createSequence: created, sequence))
                    _ = try writer.txn.delete(writer.schema.log, key: Keys.sequence(sequence))
                }
                try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.logBaseHash, value: hash.bytes)
            }
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try reopened.read { try $0.logHead() } == 2)
        try append(reopened, name("a"), [.completed(.response(Fixtures.payload("R", "x")))])
        try append(reopened, name("b"), [.created(.init())])
        #expect(try reopened.read { try $0.logTail() } == 3)
        #expect(try reopened.read { try $0.operation(name("a")) }?.version == 3)
        #expect(try reopened.verifyLog().problem == nil)
        #expect(try reopened.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
    }

    /// A request id used again after its operation was forgotten keeps pointing at the new one
    /// when a differential is loaded whose base still holds the forgotten tombstone.
    @Test func aRequestIDUsedAgainAfterItsOperationWasForgottenSurvivesLoading() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("first"), [.created(.init(requestID: "r")), .deleted])
        let base = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        try append(store, name("pad"), [.created(.init())])
        try store.compactLog(through: base.sequence, pause: .zero)
        #expect(try store.read { try $0.operation(name("first")) } == nil)
        try append(store, name("second"), [.created(.init(requestID: "r"))])
        let differential = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1, kind: .differential)
        #expect(differential.basePath != nil)
        try append(store, name("pad"), [.progressed(metadata: nil)])
        try store.compactLog(through: differential.sequence, pause: .zero)
        #expect(try store.read { try $0.operation(forRequestID: "r", in: .root)?.name } == name("second"))

        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: differential, logger: logger)
        #expect(try rebuilt.read { try $0.operation(forRequestID: "r", in: .root)?.name } == name("second"))
        #expect(try views(rebuilt) == views(store))
    }

    /// An operation live in a differential's base and dead (and compacted) by the differential is
    /// not brought back by the base's record when the differential is loaded.
    @Test func aDifferentialDoesNotBringBackWhatCompactionForgot() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("a"), [.created(.init())])
        try append(store, name("b"), [.created(.init())])
        _ = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        try append(store, name("a"), [.completed(.response(Fixtures.payload("R", "x"))), .expired])
        let differential = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 1, kind: .differential)
        #expect(differential.basePath != nil)
        try append(store, name("b"), [.progressed(metadata: nil)])
        try store.compactLog(through: differential.sequence, pause: .zero)
        #expect(try store.read { try $0.operation(name("a")) } == nil)
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: differential, logger: logger)
        #expect(try rebuilt.read { try $0.operation(name("a")) } == nil)
        #expect(try views(rebuilt) == views(store))
    }

    /// A store compacted by a build that kept every tombstone forgets, when next opened for
    /// writing, the ones whose history is gone, and only those.
    @Test func aStoreCompactedByAnOlderBuildForgetsAtOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let expected: [[[UInt8]: [UInt8]]]
        do {
            let (store, _, before) = try variedStoreCompactedThroughASnapshot(directory)
            expected = try views(store)
            // What the older build left: the forgotten tombstones and request ids back, no record of forgetting.
            let (tombstones, requestIDs) = (store.schema.views.firstIndex(of: store.schema.tombstones)!,
                                            store.schema.views.firstIndex(of: store.schema.requestIDs)!)
            #expect(before[tombstones].count == 8 && expected[tombstones].count == 2)
            try store.write { writer in
                for index in [tombstones, requestIDs] {
                    for (key, value) in before[index] { try writer.txn.put(writer.schema.views[index], key: key, value: value) }
                }
                _ = try writer.txn.delete(writer.schema.meta, key: Schema.MetaKey.forgottenThrough)
            }
            #expect(try views(store) != expected)
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try views(reopened) == expected)
        #expect(try Scrubber.run(reopened).isEmpty)
    }
}

/// The same state under another name (what a record moved or copied under a wrong key holds).
extension OperationState {
    func renamed(_ name: OperationName) -> OperationState {
        var state = self
        state.name = name
        return state
    }
}
