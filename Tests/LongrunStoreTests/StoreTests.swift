import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Store: open, append, fold, replay")
struct StoreTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)

    func name(_ id: String, parent: String = "") -> OperationName {
        try! OperationName(collection: CollectionName(parent: parent), id: id)
    }

    /// Appends `kinds` for `name` in one transaction each.
    func append(_ store: Store, _ name: OperationName, _ kinds: [Event.Kind]) throws {
        for kind in kinds {
            try store.write { writer in try writer.append([.init(actor: Fixtures.producer, kind: kind)], name: name, time: t0) }
        }
    }

    func snapshot(_ store: Store) throws -> [OperationState] {
        try store.read { reader in
            // Live records and tombstones, in name order.
            var states: [OperationState] = []
            for database in reader.schema.records {
                try reader.txn.withCursor(database) { cursor in
                    var entry = try cursor.first()
                    while let (key, value) = entry {
                        states.append(try RecordCodec.decodeState(try Checksum.open(database, key: key, value: value)))
                        entry = try cursor.next()
                    }
                }
            }
            return states.sorted { $0.name.description < $1.name.description }
        }
    }

    @Test func aNewDirectoryIsCreatedWithTheFormatVersion() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("a/b"), logger: logger)
        #expect(try store.read { try $0.formatVersion() } == Schema.formatVersion)
        #expect(try store.read { try $0.appliedSequence() } == 0)
    }

    @Test func appendsAreFoldedAndTheAppliedSequenceMovesInTheSameTransaction() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        let op = name("a")
        try append(store, op, [.created(.init()), .progressed(metadata: nil)])
        let (applied, head, state) = try store.read { reader in (try reader.appliedSequence(), try reader.logHead(), try reader.operation(op)) }
        #expect(applied == 2)
        #expect(head == 2)
        #expect(state?.version == 2)
    }

    @Test func aThrowingWriteLeavesNeitherLogNorViewsChanged() throws {
        struct Refused: Error {}
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        #expect(throws: Refused.self) {
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name("a"), time: t0)
                throw Refused()
            }
        }
        #expect(try store.read { try $0.logHead() } == 0)
        #expect(try store.read { try $0.operation(name("a")) } == nil)
    }

    @Test func viewsThatAreBehindTheLogAreReplayedOnOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before: [OperationState]
        do {
            let store = try Store(directory: directory.path, logger: logger)
            for index in 0..<50 {
                let op = name("op-\(index)")
                try append(store, op, [.created(.init(requestID: "r\(index)")), .progressed(metadata: nil)])
                if index % 3 == 0 { try append(store, op, [.completed(.response(Fixtures.payload("x")))]) }
                if index % 5 == 0 { try append(store, op, [.deleted]) }
            }
            before = try snapshot(store)
            // Simulate lost views: drop every view and reset the applied sequence.
            try store.environment.write { txn in
                for database in store.schema.views { try txn.clear(database) }
                try txn.put(store.schema.meta, key: Schema.MetaKey.appliedSequence, value: Keys.sequence(0))
            }
        }
        var configuration = Store.Configuration()
        configuration.replayChunk = 7
        let reopened = try Store(directory: directory.path, configuration: configuration, logger: logger)
        #expect(try snapshot(reopened) == before)
        #expect(try reopened.read { try $0.appliedSequence() } == reopened.read { try $0.logHead() })
        #expect(try reopened.read { try $0.operation(forRequestID: "r7", in: .root)?.name } == name("op-7"))
        #expect(try reopened.read { try $0.liveOperationCount() } == 40)
    }

    @Test func rebuildingViewsGivesTheSameViews() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        for index in 0..<20 {
            try append(store, name("op-\(index)"), [.created(.init()), .cancelRequested(reason: "", graceDeadline: t0 + .seconds(index))])
        }
        let before = try snapshot(store)
        let deadlinesBefore = try store.read { try $0.engineDeadlines(dueBy: t0 + .seconds(100), limit: 100).due }
        try store.rebuildViews(chunk: 3)
        #expect(try snapshot(store) == before)
        #expect(try store.read { try $0.engineDeadlines(dueBy: t0 + .seconds(100), limit: 100).due } == deadlinesBefore)
    }

    /// Every entry of every view, by view: what a snapshot's loading must reproduce.
    func views(_ store: Store) throws -> [[[UInt8]: [UInt8]]] {
        try store.read { reader in
            try reader.schema.views.map { database in
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
        }
    }

    /// Operations in every state that puts something in an index: running with a request id, a
    /// cooperative cancel's grace deadline, done (expiry candidates), held, deleted.
    func appendVariedOperations(_ store: Store, from first: Int, count: Int) throws {
        for index in first..<(first + count) {
            var created = Event.Created()
            if index.isMultiple(of: 2) { created.requestID = "r\(index)" }
            let op = name("op-\(index)", parent: index.isMultiple(of: 3) ? "tenants/acme" : "")
            try append(store, op, [.created(created), .progressed(metadata: nil)])
            switch index % 5 {
            case 0: try append(store, op, [.cancelRequested(reason: "", graceDeadline: t0 + .seconds(index))])
            case 1: try append(store, op, [.completed(.response(Payload(typeURL: "type.googleapis.com/x", value: [1, 2, 3])))])
            case 2: try append(store, op, [.completed(.error(Status(code: 9, message: "no"))), .deleted])
            case 3: try append(store, op, [.holdSet(reason: "audit"), .completed(.response(Payload(typeURL: "t/x", value: [])))])
            default: break
            }
        }
    }

    /// Version 2 is what builds before compressed snapshots wrote; this build writes the latest,
    /// the same records compressed.
    @Test(arguments: [2, SnapshotFile.version])
    func aSnapshotHoldsOnlyRecordsAndLoadingItRebuildsEveryView(version: UInt32) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try appendVariedOperations(store, from: 0, count: 30)
        let info = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0, version: version)
        try appendVariedOperations(store, from: 30, count: 10)
        let header = try SnapshotFile.verify(info.path)
        #expect(header.version == version)
        #expect(header.records == UInt64(try store.read { reader in try reader.snapshotSource().records }) - 10)
        let expected = try views(store)
        #expect(expected.allSatisfy { !$0.isEmpty }, "every view has entries, so each is checked")

        // Views lost: the snapshot is loaded, the indexes come from its records, the history of the
        // log it covers from the log, and the tail is folded.
        try store.loseViews()
        try store.replayTail(chunk: 7)
        #expect(try views(store) == expected)

        // A rebuild into a new directory: the history of the log it copies comes with each entry.
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: info, logger: logger)
        #expect(try views(rebuilt) == expected)
    }

    @Test func aSnapshotOfEveryViewFromAnEarlierBuildStillLoads() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try appendVariedOperations(store, from: 0, count: 20)
        let info = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0, version: 1)
        try appendVariedOperations(store, from: 20, count: 5)
        #expect(try SnapshotFile.verify(info.path).version == 1)
        let expected = try views(store)
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: info, logger: logger)
        #expect(try views(rebuilt) == expected)
        try store.loseViews()
        try store.replayTail(chunk: 5)
        #expect(try views(store) == expected)
    }

    @Test func viewsFoldedByOtherRulesAreFoldedAgainOnOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let op = name("held")
        do {
            let store = try Store(directory: directory.path, logger: logger)
            let revision = withUnsafeBytes(of: Lifecycle.foldRevision.bigEndian) { Array($0) }
            #expect(try store.read { try $0.txn.get(store.schema.meta, key: Schema.MetaKey.foldRevision).map { Array($0) } } == revision)
            try append(store, op, [.created(.init()), .progressed(metadata: nil), .holdSet(reason: "audit")])
            // What a build of fold revision 1 left: the hold counted as a version.
            try store.write { writer in
                var state = try #require(try writer.reader.operation(op))
                state.version += 1
                try writer.putRecord(state, previous: state)
                _ = try writer.txn.delete(writer.schema.meta, key: Schema.MetaKey.foldRevision)
            }
            #expect(try store.read { try $0.operation(op)?.version } == 3)
        }
        let reopened = try Store(directory: directory.path, logger: logger)
        #expect(try reopened.read { try $0.operation(op)?.version } == 2)
        #expect(try reopened.read { try $0.operation(op)?.hold?.reason } == "audit")
        let revision = withUnsafeBytes(of: Lifecycle.foldRevision.bigEndian) { Array($0) }
        #expect(try reopened.read { try $0.txn.get(reopened.schema.meta, key: Schema.MetaKey.foldRevision).map { Array($0) } } == revision)
    }

    @Test func aStoreWithAnUnknownFormatVersionIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try store.environment.write { txn in
                try txn.put(store.schema.meta, key: Schema.MetaKey.formatVersion, value: withUnsafeBytes(of: UInt32(99).bigEndian) { Array($0) })
            }
        }
        #expect {
            try Store(directory: directory.path, logger: logger)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .unsupportedFormat && error.message.contains("format 99")
        }
    }

    @Test func aForeignLMDBEnvironmentIsRefusedAndLeftUnchanged() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let env = try Environment(configuration: .init(path: directory.path))
            let db = try env.openDatabase("someone-elses")
            try env.write { txn in try txn.put(db, key: [1], value: [1]) }
        }
        #expect {
            try Store(directory: directory.path, logger: logger)
        } throws: { ($0 as? StoreError)?.kind == .foreignDirectory }
        let env = try Environment(configuration: .init(path: directory.path))
        #expect(try env.databaseNames() == ["someone-elses"])
    }

    @Test func aNonEmptyDirectoryWithoutAStoreIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let fd = open(directory.child("notes.txt"), O_CREAT | O_WRONLY, 0o600)
        close(fd)
        #expect {
            try Store(directory: directory.path, logger: logger)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .foreignDirectory && error.message.contains("notes.txt")
        }
        #expect(access(directory.child("data.mdb"), F_OK) != 0)
    }

    @Test func viewsAheadOfTheLogAreDataLoss() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store(directory: directory.path, logger: logger)
            try append(store, name("a"), [.created(.init())])
            try store.environment.write { txn in
                try txn.put(store.schema.meta, key: Schema.MetaKey.appliedSequence, value: Keys.sequence(5))
            }
        }
        #expect {
            try Store(directory: directory.path, logger: logger)
        } throws: { ($0 as? StoreError)?.kind == .dataLoss }
    }

    @Test func aCorruptEventIsReportedAsDataLossWithItsSequence() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try append(store, name("a"), [.created(.init()), .progressed(metadata: nil)])
        try store.environment.write { txn in try txn.put(store.schema.log, key: Keys.sequence(2), value: [0xFF, 0xFF]) }
        #expect {
            try store.read { try $0.events(of: name("a"), after: 0, limit: 10) }
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .dataLoss && error.message.contains("log event 2")
        }
    }

    @Test func replayStopsAtACorruptEventKeepingTheChunksBeforeIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        try appendVariedOperations(store, from: 0, count: 12)
        let head = try store.read { try $0.logHead() }
        #expect(head > 25)
        try store.environment.write { txn in try txn.put(store.schema.log, key: Keys.sequence(23), value: [0xFF, 0xFF]) }
        try store.loseViews()
        // Chunks of 5: 1–5 … 16–20 fold and commit while the chunk holding event 23 is decoded;
        // its error ends the replay, after them, and nothing of 21–25 is folded.
        #expect {
            try store.replayTail(chunk: 5)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .dataLoss && error.message.contains("log event 23")
        }
        #expect(try store.read { try $0.appliedSequence() } == 20)
        // Each operation stands as its events up to 20 leave it.
        var expected: [OperationName: OperationState] = [:]
        for event in try store.read({ try $0.events(after: 0, limit: 20) }) {
            var state = expected[event.name]
            _ = Lifecycle.apply(&state, event)
            expected[event.name] = state
        }
        #expect(!expected.isEmpty)
        for (name, state) in expected {
            #expect(try store.read { try $0.operation(name) } == state)
        }
    }

    @Test func historyKeepsEveryEventOfADeletedOperationInOrder() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        let a = name("a"), b = name("a", parent: "tenants/x")
        try append(store, a, [.created(.init())])
        try append(store, b, [.created(.init())])
        try append(store, a, [.progressed(metadata: nil), .deleted])
        let events = try store.read { try $0.events(of: a, after: 0, limit: 10) }
        #expect(events.map(\.sequence) == [1, 3, 4])
        #expect(events.map(\.kind.label) == ["created", "progressed", "deleted"])
        #expect(try store.read { try $0.events(of: a, after: 1, limit: 1) }.map(\.sequence) == [3])
    }
}
