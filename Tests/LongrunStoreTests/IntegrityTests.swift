import Foundation
import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

@Suite("Store: hash chain, verify, rebuild, snapshots")
struct IntegrityTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)

    func name(_ index: Int) -> OperationName { try! OperationName(parsing: "operations/op-\(index)") }

    /// A store with `count` operations, some progressed, completed, cancelled or deleted.
    func populated(_ directory: String, count: Int = 40) throws -> Store {
        let store = try Store(directory: directory, logger: logger)
        for index in 0..<count {
            let op = name(index)
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init(metadata: Fixtures.payload("M", "op \(index)"), requestID: "r\(index)")))], name: op, time: t0 + .seconds(index))
                if index % 2 == 0 { try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: Fixtures.payload("M", "half")))], name: op, time: t0 + .seconds(index)) }
                if index % 3 == 0 { try writer.append([.init(actor: Fixtures.producer, kind: .completed(.response(Fixtures.payload("R"))))], name: op, time: t0 + .seconds(index)) }
                if index % 5 == 1 { try writer.append([.init(actor: Fixtures.consumer, kind: .cancelRequested(reason: "", graceDeadline: t0 + .seconds(99)))], name: op, time: t0 + .seconds(index)) }
                if index % 7 == 0 { try writer.append([.init(actor: Fixtures.consumer, kind: .deleted)], name: op, time: t0 + .seconds(index)) }
            }
        }
        return store
    }

    /// Replaces the stored value of log entry `sequence` with `transform` of it.
    func tamper(_ store: Store, _ sequence: UInt64, _ transform: ([UInt8]) -> [UInt8]) throws {
        try store.environment.write { txn in
            let value = try #require(try txn.get(store.schema.log, key: Keys.sequence(sequence))).map { $0 }
            try txn.put(store.schema.log, key: Keys.sequence(sequence), value: transform(Array(value)))
        }
    }

    @Test func aHealthyStoreVerifiesAndRebuildsToTheSameViews() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
        #expect(report.isHealthy, "\(report.problems)")
        #expect(report.events == report.headSequence)
        #expect(report.viewsDigest == report.rebuiltDigest)
        #expect(report.headHash == (try store.read { try $0.headHash() }))
        #expect(report.headHash != .genesis)
    }

    @Test func aFlippedByteInAnEventIsNamedByItsSequence() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        try tamper(store, 17) { value in
            var value = value
            value[value.count - 3] ^= 0x01
            return value
        }
        let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
        #expect(report.firstBadSequence == 17)
        #expect(report.problems.first?.kind == .brokenChain)
    }

    @Test func aRemovedEventIsAGap() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        try store.environment.write { txn in _ = try txn.delete(store.schema.log, key: Keys.sequence(9)) }
        let (_, problem) = try store.verifyLog()
        #expect(problem?.kind == .gap)
        #expect(problem?.sequence == 9)
    }

    @Test func swappedEventsBreakTheChainAtTheFirstOfThem() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let (a, b) = try store.read { reader in
            (Array(try #require(try reader.txn.get(store.schema.log, key: Keys.sequence(5)))),
             Array(try #require(try reader.txn.get(store.schema.log, key: Keys.sequence(6)))))
        }
        try tamper(store, 5) { _ in b }
        try tamper(store, 6) { _ in a }
        let (_, problem) = try store.verifyLog()
        #expect(problem?.sequence == 5)
    }

    @Test func viewsThatDisagreeWithTheLogAreReported() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let running = try #require(try store.read { try $0.operation(name(1)) })
        #expect(!running.done && !running.isDeleted)
        let removed = try store.environment.write { txn in try txn.delete(store.schema.running, key: Keys.creation(.root, running.createSequence)) }
        #expect(removed)
        let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
        #expect(report.problems.map(\.kind) == [.viewsDiffer])
        #expect(report.problems.first?.message.contains("running") == true)
    }

    @Test func aDamagedRecentLogIsRefusedAtOpenWithTheCommandToRun() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try populated(directory.child("data"))
            try tamper(store, 30) { value in
                var value = value
                value[40] ^= 0x80
                return value
            }
        }
        #expect {
            try Store(directory: directory.child("data"), logger: logger)
        } throws: { error in
            guard let error = error as? StoreError, error.kind == .dataLoss else { return false }
            return error.message.contains("event 30") && error.message.contains("longrun-replay verify")
        }
    }

    @Test func rebuildCopiesTheLogAndCanStopEarly() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let full = try Store.rebuild(from: store, into: directory.child("full"), logger: logger)
        #expect(try full.viewsDigest() == store.viewsDigest())
        #expect(try full.read { try $0.headHash() } == store.read { try $0.headHash() })
        let partial = try Store.rebuild(from: store, into: directory.child("partial"), upTo: 10, logger: logger)
        #expect(try partial.read { try $0.logHead() } == 10)
        #expect(try partial.read { try $0.appliedSequence() } == 10)
        #expect(throws: StoreError.self) { try Store.rebuildAtomically(from: store, into: directory.child("full"), logger: logger) }
        try Store.rebuildAtomically(from: store, into: directory.child("atomic"), logger: logger)
        #expect(try Store(directory: directory.child("atomic"), logger: logger).viewsDigest() == store.viewsDigest())
    }

    @Test func snapshotsRoundTripAndRebuildsStartFromThem() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"), count: 20)
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 2, createdUnixNanos: 1)
        let header = try SnapshotFile.verify(snapshot.path)
        #expect(header.sequence == (try store.read { try $0.appliedSequence() }))
        #expect(header.records > 0)
        // More events after the snapshot; a rebuild from it replays only those and matches.
        for index in 20..<30 {
            try store.write { writer in try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name(index), time: t0) }
        }
        #expect(try store.usableSnapshot(upTo: 1000) == snapshot)
        let rebuilt = try Store.rebuild(from: store, into: directory.child("rebuilt"), snapshot: snapshot, logger: logger)
        #expect(try rebuilt.viewsDigest() == store.viewsDigest())
        // Keep: only the newest two remain.
        _ = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 2, createdUnixNanos: 2)
        for index in 30..<32 {
            try store.write { writer in try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name(index), time: t0) }
        }
        _ = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 2, createdUnixNanos: 3)
        #expect(try SnapshotFile.list(in: store.snapshotDirectory).count == 2)
    }

    @Test func aDamagedSnapshotIsDetectedAndNeverLoaded() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"), count: 10)
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 1)
        let fd = open(snapshot.path, O_RDWR)
        var byte: UInt8 = 0
        pread(fd, &byte, 1, 100)
        byte ^= 0xFF
        pwrite(fd, &byte, 1, 100)
        close(fd)
        #expect {
            try SnapshotFile.verify(snapshot.path)
        } throws: { ($0 as? StoreError)?.kind == .dataLoss }
        #expect(try store.usableSnapshot(upTo: 1000) == nil)
        let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
        #expect(report.problems.map(\.kind) == [.snapshotCorrupt])
    }

    @Test func lostViewsAreRecoveredFromTheNewestSnapshotAndTheTail() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before: String
        do {
            let store = try populated(directory.child("data"), count: 20)
            _ = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 1, createdUnixNanos: 1)
            for index in 20..<25 {
                try store.write { writer in try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name(index), time: t0) }
            }
            before = try store.viewsDigest()
            try store.environment.write { txn in
                for database in store.schema.views { try txn.clear(database) }
                try txn.put(store.schema.meta, key: Schema.MetaKey.appliedSequence, value: Keys.sequence(0))
            }
        }
        let reopened = try Store(directory: directory.child("data"), logger: logger)
        #expect(try reopened.viewsDigest() == before)
    }

    @Test func theLastEventAtOrBeforeATimeIsFound() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: logger)
        for index in 0..<10 {
            try store.write { writer in try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name(index), time: t0 + .seconds(index * 10)) }
        }
        #expect(try await store.lastSequence(atOrBefore: t0 - .seconds(1)) == nil)
        #expect(try await store.lastSequence(atOrBefore: t0) == 1)
        #expect(try await store.lastSequence(atOrBefore: t0 + .seconds(45)) == 5)
        #expect(try await store.lastSequence(atOrBefore: t0 + .seconds(1000)) == 10)
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite("Store: the chain check at open")
struct OpenCheckTests {
    func append(_ store: Store, _ range: Range<Int>) throws {
        for index in range {
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: try OperationName(parsing: "operations/op-\(index)"), time: Timestamp(seconds: 1))
            }
        }
    }

    @Test func theCheckpointFollowsTheHeadSoARestartChecksOnlyWhatCameAfter() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            // A new store records its empty log as checked, so the checks while it runs move on
            // from the first event.
            let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
            let recorded = try #require(try store.read { try $0.verifiedLog() })
            #expect(recorded.sequence == 0 && recorded.hash == .genesis)
            try append(store, 0..<5)
            let first = try #require(try store.advanceVerifiedLog())
            #expect(first.checked == 5 && first.problem == nil)
            #expect(try store.read { try $0.verifiedLog()?.sequence } == 5)
        }
        do {
            // A store without a checkpoint (written by a build before checkpoints): nothing to move
            // on from until a whole-log check; opening checks the whole log and records the head.
            let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
            try store.environment.write { txn in _ = try txn.delete(store.schema.meta, key: Schema.MetaKey.verifiedLog) }
            #expect(try store.advanceVerifiedLog() == nil)
            #expect(try store.read { try $0.verifiedLog() } == nil)
        }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        #expect(try store.read { try $0.verifiedLog()?.sequence } == 5)
        try append(store, 5..<8)
        let checked = try #require(try store.advanceVerifiedLog())
        #expect(checked.checked == 3 && checked.problem == nil)
        #expect(try store.read { try $0.verifiedLog()?.sequence } == 8)
        #expect(try store.advanceVerifiedLog()?.checked == 0)


        // An event edited after the checkpoint is found, and the checkpoint stays before it.
        try append(store, 8..<10)
        try store.environment.write { txn in
            var value = Array(try #require(try txn.get(store.schema.log, key: Keys.sequence(9))))
            value[value.count - 3] ^= 0x01
            try txn.put(store.schema.log, key: Keys.sequence(9), value: value)
        }
        let damaged = try #require(try store.advanceVerifiedLog())
        #expect(damaged.problem?.sequence == 9)
        #expect(try store.read { try $0.verifiedLog()?.sequence } == 8)
    }

    @Test func aCheckpointRecordedWhileEventsAreAppendedNamesOneEventAndItsHash() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try append(try Store(directory: directory.path, logger: Fixtures.quietLogger), 0..<5)
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        #expect(try store.read { try $0.verifiedLog()?.sequence } == 5)
        let writer = Thread { [self] in
            for index in 100..<400 { try? append(store, index..<(index + 1)) }
        }
        writer.start()
        for _ in 0..<50 {
            _ = try store.advanceVerifiedLog()
            let (sequence, hash) = try #require(try store.read { try $0.verifiedLog() })
            #expect(try store.read { try $0.chainHash(at: sequence) } == hash)
        }
        while !writer.isFinished { usleep(1_000) }
        let last = try #require(try store.advanceVerifiedLog())
        #expect(last.problem == nil)
        #expect(try store.read { try $0.verifiedLog()?.sequence } == 305)
    }

    @Test func checkingFromAfterTheHeadChecksNothingAndFromTheMiddleChecksTheRest() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        for index in 0..<10 {
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: try OperationName(parsing: "operations/op-\(index)"), time: Timestamp(seconds: 1))
            }
        }
        #expect(try store.verifyLog(from: 11).report.events == 0)
        #expect(try store.verifyLog(from: 7).report.events == 4)
        #expect(try store.verifyLog().report.events == 10)
        #expect(try store.verifyLog(from: 7).report.headHash == store.verifyLog().report.headHash)
        // A check that stops before the head (as one racing new appends does: it checks through the
        // head it saw first) reports that event's hash, never a later one's: the checkpoint recorded
        // from it must name one event.
        let bounded = try store.verifyLog(from: 7, through: 8).report
        #expect(bounded.events == 2 && bounded.headSequence == 8)
        #expect(try bounded.headHash == store.read { try $0.chainHash(at: 8) })
        #expect(try store.verifyLog(from: 9, through: 8).report.headHash == store.read { try $0.chainHash(at: 8) })
    }
}
