import Foundation
import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Store: the write-ahead journal")
struct JournalTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)
    static let thisBoot = [UInt8](repeating: 0x11, count: 16)
    static let nextBoot = [UInt8](repeating: 0x22, count: 16)

    /// Checkpoints only where a test takes them, unless it says otherwise.
    func configuration(journal: Int = 1 << 20, boot: [UInt8] = thisBoot, checkpointEvery interval: Duration = .seconds(3600),
                       servingReadsFirst: Bool = false) -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.journalSize = journal
        configuration.journalCheckpointInterval = interval
        configuration.bootID = boot
        configuration.serveReadsWhileOpening = servingReadsFirst
        return configuration
    }

    /// One batch through the storage seam, as the engine's writer commits it: journaled.
    func batch(_ store: Store, _ changes: [(String, Event.Kind)]) throws {
        try store.write(footprint: BatchFootprint()) { writer in
            for (id, kind) in changes {
                let name = Fixtures.name("operations/\(id)")
                _ = try writer.append([.init(actor: Fixtures.producer, kind: kind)], name: name, time: t0, current: try writer.operation(name))
            }
        }
    }

    /// A directory `name` in `directory` holding `data` as its data file and a copy of the
    /// journal of `source`: what a crash left.
    func crashCopy(_ directory: TemporaryDirectory, _ name: String, data: [UInt8], journalOf source: String) -> String {
        let crashed = directory.child(name)
        mkdir(crashed, 0o700)
        writeFileBytes(crashed + "/data.mdb", data)
        writeFileBytes(crashed + "/journal", readFileBytes(source + "/journal"))
        return crashed
    }

    /// The journal's newest checkpoint in `directory`, nil without a journal.
    func lastCheckpoint(_ directory: String) throws -> JournalFile.Checkpoint? {
        try JournalFile.existing(in: directory, writable: false)?.readCheckpoint()
    }

    /// What the store holds, to compare across a crash: the log's head and chain hash, the views.
    func fingerprint(_ store: Store) throws -> (UInt64, ChainHash, String) {
        let (report, problem) = try store.verifyLog()
        #expect(problem == nil)
        return (report.headSequence, report.headHash, try store.viewsDigest())
    }

    /// A power loss: of the pages written after the last checkpoint, any may or may not have
    /// reached the disk, each 512-byte sector on its own (`synced` is the file as the checkpoint
    /// flushed it, `written` as the process left it). The journal was flushed at every commit.
    func powerLoss(synced: [UInt8], written: [UInt8], seed: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        var mixed = written
        for sector in stride(from: 0, to: written.count, by: 512) where random.next() % 2 == 0 {
            let end = min(sector + 512, written.count)
            if sector < synced.count {
                mixed.replaceSubrange(sector..<end, with: synced[sector..<min(end, synced.count)] + [UInt8](repeating: 0, count: max(0, end - synced.count)))
            } else {
                mixed.replaceSubrange(sector..<end, with: [UInt8](repeating: 0, count: end - sector))
            }
        }
        return mixed
    }

    @Test func everyAcknowledgedBatchSurvivesAPowerLossWhateverPagesReachedTheDisk() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        // A small map, so that it grows while a checkpointed state is pinned.
        // The journal large enough that no checkpoint comes after the one the test takes.
        var small = configuration(journal: 16 << 20)
        small.initialMapSize = 1 << 20
        let store = try Store(directory: source, configuration: small, logger: logger)
        let journal = try #require(store.journal)
        for round in 0..<20 {
            try batch(store, (0..<10).map { ("op\(round * 10 + $0)", .created(.init(metadata: Fixtures.payload("t", "created")))) })
        }
        try journal.checkpoint(store)
        let synced = readFileBytes(source + "/data.mdb")
        let checkpointed = try #require(try lastCheckpoint(source))
        // After the checkpoint: progress on every operation (rewriting the pages that hold them),
        // deletions and new operations, so that LMDB writes pages all over the file.
        for round in 0..<30 {
            let bulky = String(repeating: "round \(round) ", count: 400)
            try batch(store, (0..<10).map { ("op\((round * 7 + $0 * 13) % 200)", .progressed(metadata: Fixtures.payload("t", bulky))) })
            if round % 5 == 0 { try batch(store, [("new\(round)", .created(.init()))]) }
        }
        let expected = try fingerprint(store)
        #expect(store.environment.info.mapSize > 1 << 20)
        #expect(try lastCheckpoint(source) == checkpointed)
        let written = readFileBytes(source + "/data.mdb")
        #expect(written != synced)

        for seed in 1...8 as ClosedRange<UInt64> {
            let crashed = crashCopy(directory, "crashed\(seed)", data: powerLoss(synced: synced, written: written, seed: seed), journalOf: source)
            let reopened = try Store(directory: crashed, configuration: configuration(boot: Self.nextBoot), logger: logger)
            let found = try fingerprint(reopened)
            #expect(found.0 == expected.0, "seed \(seed)")
            #expect(found.1 == expected.1, "seed \(seed)")
            #expect(found.2 == expected.2, "seed \(seed)")
        }
    }

    @Test func howFarTheLogWasCheckedIsRecordedWithoutAFlushAndAPowerLossOnlyMakesTheNextStartCheckMore() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(journal: 16 << 20), logger: logger)
        let journal = try #require(store.journal)
        for round in 0..<10 { try batch(store, (0..<10).map { ("op\(round * 10 + $0)", .created(.init())) }) }
        try journal.checkpoint(store)
        let synced = readFileBytes(source + "/data.mdb")
        let checkpointed = try #require(try lastCheckpoint(source))
        let verifiedBefore = try #require(try store.read { try $0.verifiedLog() })
        for round in 0..<10 { try batch(store, (0..<10).map { ("op\(round * 10 + $0)", .progressed(metadata: Fixtures.payload("t", "\(round)"))) }) }
        // The engine does this every second under load: it must not flush the data file each time.
        let checked = try #require(try store.advanceVerifiedLog())
        #expect(checked.problem == nil && checked.checked == 200)
        #expect(try lastCheckpoint(source) == checkpointed)
        try batch(store, [("late", .created(.init()))])
        let expected = try fingerprint(store)
        let written = readFileBytes(source + "/data.mdb")

        // The process died: the page cache kept the record, and the next start checks only the last batch.
        let died = crashCopy(directory, "died", data: written, journalOf: source)
        let afterProcessCrash = try Store(directory: died, configuration: configuration(), logger: logger)
        #expect(try fingerprint(afterProcessCrash) == expected)
        #expect(try afterProcessCrash.read { try $0.verifiedLog()?.sequence } == expected.0)
        afterProcessCrash.close()
        // The machine lost power: the record may be gone with the rest written after the checkpoint;
        // the start then checks from the record before it, finds the log intact and moves it on.
        #expect(verifiedBefore.sequence < expected.0)
        for seed in 1...4 as ClosedRange<UInt64> {
            let crashed = crashCopy(directory, "crashed\(seed)", data: powerLoss(synced: synced, written: written, seed: seed), journalOf: source)
            let reopened = try Store(directory: crashed, configuration: configuration(boot: Self.nextBoot), logger: logger)
            #expect(try fingerprint(reopened) == expected, "seed \(seed)")
            #expect(try reopened.read { try $0.verifiedLog()?.sequence } == expected.0, "seed \(seed)")
            reopened.close()
        }
    }

    /// Progress on operations spread over many pages, batch after batch, as a steady load does:
    /// little new data, many pages rewritten. Every `settlingEvery` batches, the commits wait for
    /// the checkpoint running in the background: the pages a slow one keeps pinned are then those
    /// of at most that many commits, however fast the disk is (on a slow one, a checkpoint that
    /// outlasted the whole churn once left the file as long as if none had run).
    func churn(_ store: Store, batches: Int, settlingEvery settling: Int? = nil) throws {
        for first in stride(from: 0, to: 2000, by: 250) {
            try batch(store, (first..<first + 250).map { ("op\($0)", .created(.init())) })
        }
        for round in 0..<batches {
            try batch(store, (0..<8).map { ("op\((round * 37 + $0 * 251) % 2000)", .progressed(metadata: Fixtures.payload("t", "\(round)"))) })
            if let settling, round % settling == settling - 1 { try #require(store.journal).backgroundCheckpointsSettled() }
        }
        store.journal?.backgroundCheckpointsSettled()
    }


    @Test func checkpointsInTheBackgroundKeepTheDataFileFromGrowingWithTheCommits() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // The same commits with a checkpoint due at every commit, and with none after the first:
        // while one state stays pinned, LMDB reuses no page and every commit extends the file.
        let frequent = directory.child("frequent"), never = directory.child("never")
        let store = try Store(directory: frequent, configuration: configuration(journal: 16 << 20, checkpointEvery: .zero), logger: logger)
        try churn(store, batches: 1500, settlingEvery: 10)
        let pinned = try Store(directory: never, configuration: configuration(journal: 16 << 20), logger: logger)
        try churn(pinned, batches: 1500)
        // What LMDB uses: the file itself may be longer, kept written ahead of it (CheckpointWriteBack).
        // (Measured: 0.03 of it, 4.1–4.5 MB against 155 MB; ten commits' pages pinned at most.)
        let used = (store.environment.info.usedBytes, pinned.environment.info.usedBytes)
        #expect(used.0 * 4 < used.1, "\(used.0) bytes against \(used.1)")

        // And each checkpoint written in the background is whole: after a power loss that kept
        // every page written, the open goes back to the last one and applies the journal.
        let expected = try fingerprint(store)
        let crashed = crashCopy(directory, "crashed", data: readFileBytes(frequent + "/data.mdb"), journalOf: frequent)
        let reopened = try Store(directory: crashed, configuration: configuration(boot: Self.nextBoot), logger: logger)
        let found = try fingerprint(reopened)
        #expect(found.0 == expected.0)
        #expect(found.1 == expected.1)
        #expect(found.2 == expected.2)
    }

    @Test func aBatchInTheJournalThatLMDBHadNotCommittedIsAppliedAtTheNextOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(), logger: logger)
        try batch(store, [("a", .created(.init())), ("b", .created(.init()))])
        // The process dies between the journal's flush and LMDB's commit: the data file as it was
        // before the batch, the journal as it is after.
        let before = readFileBytes(source + "/data.mdb")
        try batch(store, [("a", .progressed(metadata: Fixtures.payload("t", "half"))), ("c", .created(.init()))])
        let expected = try fingerprint(store)
        let crashed = crashCopy(directory, "crashed", data: before, journalOf: source)
        let reopened = try Store(directory: crashed, configuration: configuration(), logger: logger)
        let found = try fingerprint(reopened)
        #expect(found.0 == expected.0)
        #expect(found.1 == expected.1)
        #expect(found.2 == expected.2)
        #expect(try reopened.read { try $0.operation(Fixtures.name("operations/c")) } != nil)
    }

    /// The meta pages of `data` (a data file's bytes), as a checkpoint records them.
    func metas(_ data: [UInt8], pageSize: UInt32) -> [UInt8] {
        let second = Int(pageSize)
        return Array(data[0..<JournalFile.metaBytes] + data[second..<second + JournalFile.metaBytes])
    }

    /// A store, checkpointed, then written on (pages freed since the checkpoint), and a crash copy of
    /// it whose data file lacks the last batch, which only the journal holds: what a process killed
    /// between the journal's flush and LMDB's commit leaves. `committed`: the data file has it too
    /// (killed after the commit: only the checkpoint of the state it left is the open's to write).
    func crashedWithAJournalAhead(_ directory: TemporaryDirectory, name: String = "crashed", tag: String = "t", committed: Bool = false) throws
        -> (crashed: String, data: [UInt8], expected: (UInt64, ChainHash, String))
    {
        let source = directory.child("source-" + name)
        let store = try Store(directory: source, configuration: configuration(), logger: logger)
        try churn(store, batches: 0)
        try #require(store.journal).checkpoint(store)
        for round in 0..<20 {
            try batch(store, (0..<8).map { ("op\((round * 37 + $0 * 251) % 2000)", .progressed(metadata: Fixtures.payload(tag, "\(round)"))) })
        }
        var data = readFileBytes(source + "/data.mdb")
        try batch(store, [("op1", .progressed(metadata: Fixtures.payload(tag, "late"))), ("c", .created(.init()))])
        if committed { data = readFileBytes(source + "/data.mdb") }
        let expected = try fingerprint(store)
        return (crashCopy(directory, name, data: data, journalOf: source), data, expected)
    }

    @Test func anOpenRefusesJournalEntriesThatDoNotContinueTheLogAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (ours, data, _) = try crashedWithAJournalAhead(directory, name: "ours", tag: "ours")
        let (theirs, _, _) = try crashedWithAJournalAhead(directory, name: "theirs", tag: "theirs")
        // Our data file with another store's journal: the same sequences, another chain.
        writeFileBytes(ours + "/journal", readFileBytes(theirs + "/journal"))
        let journal = readFileBytes(ours + "/journal")
        for servesReadsFirst in [true, false] {
            let open = configuration(servingReadsFirst: servesReadsFirst)
            let error = #expect(throws: StoreError.self) { try Store(directory: ours, configuration: open, logger: logger) }
            #expect(error?.kind == .dataLoss, "serving reads first: \(servesReadsFirst)")
            #expect(readFileBytes(ours + "/data.mdb") == data, "serving reads first: \(servesReadsFirst)")
            #expect(readFileBytes(ours + "/journal") == journal, "serving reads first: \(servesReadsFirst)")
        }
    }

    @Test func afterAProcessCrashTheOpenWritesNothingBeforeTheJournalsCheckpointOfTheStateTheCrashLeft() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (crashed, data, expected) = try crashedWithAJournalAhead(directory)
        let previous = try #require(try lastCheckpoint(crashed))
        // The open applies the journal's batch and records how far it checked the log: two commits.
        // Before the new checkpoint, nothing kept LMDB from writing them over pages of the old
        // checkpoint's state, which a power loss then would have put back.
        let reopened = try Store(directory: crashed, configuration: configuration(), logger: logger)
        #expect(try fingerprint(reopened) == expected)
        let first = try #require(try lastCheckpoint(crashed))
        #expect(first.session == previous.session + 1)
        #expect(first.metas == metas(data, pageSize: first.pageSize))
        #expect(first.metas != metas(readFileBytes(crashed + "/data.mdb"), pageSize: first.pageSize))
    }

    @Test func anOpenAskedToServeReadsFirstAppliesEntriesLMDBLacksBeforeAnyReadAndTellsFollowersWhatItApplied() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (crashed, data, expected) = try crashedWithAJournalAhead(directory)
        let reopened = try Store(directory: crashed, configuration: configuration(servingReadsFirst: true), logger: logger)
        // The journal's batch LMDB lacks may have been answered (before LMDB's commit): the first
        // read sees it.
        #expect(!reopened.isOpening)
        #expect(try reopened.read { try $0.logHead() } == expected.0)
        let told = Mutex<(UInt64, [OperationName])?>(nil)
        reopened.followCommits(after: expected.0 - 2) { head, names in told.withLock { $0 = (head, names) } }
        // A write waits for the open's: it comes after the journal's batch, never in its place.
        try batch(reopened, [("d", .created(.init()))])
        #expect(try reopened.read { try $0.logHead() } == expected.0 + 1)
        #expect(try reopened.read { try $0.operation(Fixtures.name("operations/c")) } != nil)
        let deadline = ContinuousClock.now + .seconds(30)
        while told.withLock({ $0 == nil }) && ContinuousClock.now < deadline { usleep(1_000) }
        let (head, names) = try #require(told.withLock { $0 })
        #expect(head >= expected.0)
        #expect(names.contains(Fixtures.name("operations/c")) && names.contains(Fixtures.name("operations/op1")))
        let first = try #require(try lastCheckpoint(crashed))
        #expect(first.metas == metas(data, pageSize: first.pageSize))
    }

    @Test func afterAMachineStopAnOpenThatServesReadsFirstShowsEveryAcknowledgedBatchFromItsFirstRead() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(), logger: logger)
        try churn(store, batches: 0)
        try #require(store.journal).checkpoint(store)
        let synced = readFileBytes(source + "/data.mdb")
        for round in 0..<20 {
            try batch(store, (0..<8).map { ("op\((round * 37 + $0 * 251) % 2000)", .progressed(metadata: Fixtures.payload("t", "\(round)"))) })
        }
        let expected = try fingerprint(store)
        let written = readFileBytes(source + "/data.mdb")
        // Every batch after the checkpoint was acknowledged, and only the journal still holds them:
        // the open applies them before it returns.
        let early = configuration(boot: Self.nextBoot, servingReadsFirst: true)
        for seed in 1...3 as ClosedRange<UInt64> {
            let crashed = crashCopy(directory, "crashed\(seed)", data: powerLoss(synced: synced, written: written, seed: seed), journalOf: source)
            let reopened = try Store(directory: crashed, configuration: early, logger: logger)
            #expect(try reopened.read { try $0.logHead() } == expected.0, "seed \(seed)")
            #expect(try fingerprint(reopened) == expected, "seed \(seed)")
            // Committed before the new session's checkpoint, which makes the old session's records
            // unreadable: a power loss right after it must not take them.
            let first = try #require(try lastCheckpoint(crashed))
            #expect(first.sequence == expected.0, "seed \(seed)")
        }
    }

    @Test func anOpenWhoseWritesFailAfterServingReadsKeepsServingThemAndRefusesEveryWriteWithTheReason() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (crashed, _, expected) = try crashedWithAJournalAhead(directory, committed: true)
        var failing = configuration(servingReadsFirst: true)
        failing.openingFault = StoreError(.storage, "the disk went away")
        do {
            let reopened = try Store(directory: crashed, configuration: failing, logger: logger)
            let error = #expect(throws: StoreError.self) { try batch(reopened, [("d", .created(.init()))]) }
            #expect(error?.kind == .storage)
            #expect(error?.message.contains("the disk went away") == true)
            #expect(error?.message.contains("restarted") == true)
            #expect(reopened.openingFailure?.kind == .storage)
            #expect(try reopened.read { try $0.logHead() } == expected.0)
            #expect(try reopened.read { try $0.operation(Fixtures.name("operations/op1")) } != nil)
            reopened.close()
        }
        // Nothing was written: the next open applies the journal as this one would have.
        let again = try Store(directory: crashed, configuration: configuration(), logger: logger)
        #expect(try fingerprint(again) == expected)
        #expect(again.openingFailure == nil)
    }

    @Test func aReadOnlyOpenAfterAPowerLossIsRefusedAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(), logger: logger)
        try batch(store, [("a", .created(.init()))])
        let data = readFileBytes(source + "/data.mdb")
        let crashed = crashCopy(directory, "crashed", data: data, journalOf: source)
        var readOnly = configuration(boot: Self.nextBoot)
        readOnly.readOnly = true
        let error = #expect(throws: StoreError.self) { try Store(directory: crashed, configuration: readOnly, logger: logger) }
        #expect(error?.kind == .unavailable)
        #expect(readFileBytes(crashed + "/data.mdb") == data)
        // In the same boot the data file is as the process left it, and can be read.
        readOnly.bootID = Self.thisBoot
        let reader = try Store(directory: crashed, configuration: readOnly, logger: logger)
        #expect(try reader.read { try $0.logHead() } == 1)
    }

    @Test func anOpenWithoutAJournalAppliesTheOneLeftAndRemovesIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(), logger: logger)
        try batch(store, [("a", .created(.init()))])
        let before = readFileBytes(source + "/data.mdb")
        try batch(store, [("b", .created(.init()))])
        let crashed = crashCopy(directory, "crashed", data: before, journalOf: source)
        let reopened = try Store(directory: crashed, configuration: configuration(journal: 0), logger: logger)
        #expect(try reopened.read { try $0.logHead() } == 2)
        #expect(reopened.journal == nil)
        #expect(access(crashed + "/journal", F_OK) != 0)
    }

    @Test func aCleanCloseFlushesTheDataFileAndRemovesTheJournal() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store: Store? = try Store(directory: directory.path, configuration: configuration(), logger: logger)
        try batch(store!, [("a", .created(.init())), ("b", .created(.init()))])
        #expect(access(directory.path + "/journal", F_OK) == 0)
        store?.close()
        store = nil
        #expect(access(directory.path + "/journal", F_OK) != 0)
        // And after a power loss too: the data file was flushed.
        let reopened = try Store(directory: directory.path, configuration: configuration(boot: Self.nextBoot), logger: logger)
        #expect(try reopened.read { try $0.logHead() } == 2)
    }
}

@Suite("The journal's file")
struct JournalFileTests {
    func checkpoint(number: UInt64 = 1, session: UInt64 = 1, start: UInt64 = 0) -> JournalFile.Checkpoint {
        .init(number: number, session: session, start: start, sequence: 0, bootID: [UInt8](repeating: 1, count: 16),
              pageSize: 4096, metas: [UInt8](repeating: 7, count: 2 * JournalFile.metaBytes))
    }

    func entries(_ range: ClosedRange<UInt64>, _ tag: UInt8 = 0) -> [(sequence: UInt64, entry: [UInt8])] {
        range.map { ($0, [UInt8](repeating: tag &+ UInt8($0 % 200), count: 100 + Int($0 % 37))) }
    }

    @Test func recordsAreReadBackInOrderAcrossTheRingsEnd() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = try JournalFile.create(in: directory.path, size: JournalFile.ringOffset + 4096, checkpoint: checkpoint())
        var position: UInt64 = 0
        var start: UInt64 = 0
        var written: [(sequence: UInt64, entry: [UInt8])] = []
        // Many laps of a 4 KiB ring, each record read back after the last checkpoint's start.
        for batch in 0..<60 as Range<UInt64> {
            let records = entries((batch * 3 + 1)...(batch * 3 + 3))
            if position - start + file.space(payload: JournalFile.payload(records).count, at: position) > file.ringSize {
                start = position
                written = []
            }
            position = try file.append(payload: JournalFile.payload(records), session: 1, at: position)
            written += records
            let (found, end) = try file.entries(session: 1, from: start)
            #expect(end == position)
            #expect(found.map(\.sequence) == written.map(\.sequence))
            #expect(found.map(\.entry) == written.map(\.entry))
        }
        // Another session's start finds nothing of this one's records.
        #expect(try file.entries(session: 2, from: start).entries.isEmpty)
    }

    /// The first lap zeroes the ring ahead of each record (written blocks flush faster than
    /// allocated ones), never at or past the limit, where a record still needed may lie, nor once
    /// the lap is over; the records read back are the ones written, and the zeros end them.
    @Test func theFirstLapZeroesAheadOfItsRecordsButNeverPastTheLimit() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ring = 4 * Int(JournalFile.zeroingStep)
        let file = try JournalFile.create(in: directory.path, size: JournalFile.ringOffset + ring, checkpoint: checkpoint())
        // What an earlier session left in the ring.
        let fd = open(directory.path + "/journal", O_RDWR)
        defer { close(fd) }
        let old = [UInt8](repeating: 0xAB, count: ring)
        _ = old.withUnsafeBytes { pwrite(fd, $0.baseAddress, ring, off_t(JournalFile.ringOffset)) }
        func byte(at position: UInt64) -> UInt8 {
            var byte: UInt8 = 0
            _ = pread(fd, &byte, 1, off_t(JournalFile.ringOffset) + off_t(position % UInt64(ring)))
            return byte
        }

        // A limit just past the first record: nothing at or after it is touched.
        var position = try file.append(payload: JournalFile.payload(entries(1...3)), session: 1, at: 0, zeroingBefore: 1000)
        let firstEnd: UInt64? = position
        #expect(position < 1000)
        #expect(byte(at: position) == 0 && byte(at: 999) == 0)
        #expect(byte(at: 1000) == 0xAB && byte(at: JournalFile.zeroingStep) == 0xAB)

        // Then a limit a lap on: zeroed a step ahead, the records read back, ended by the zeros.
        var written = entries(1...3)
        for batch in 1..<40 as Range<UInt64> {
            let records = entries((batch * 3 + 1)...(batch * 3 + 3))
            position = try file.append(payload: JournalFile.payload(records), session: 1, at: position, zeroingBefore: UInt64(ring))
            written += records
            #expect(byte(at: position) == 0 && byte(at: position + JournalFile.zeroingStep / 2 - 1) == 0)
        }
        #expect(byte(at: position + JournalFile.zeroingStep + 8) == 0xAB, "zeroed only a step ahead")
        let (found, end) = try file.entries(session: 1, from: 0)
        #expect(end == position)
        #expect(found.map(\.sequence) == written.map(\.sequence))
        #expect(found.map(\.entry) == written.map(\.entry))

        // Past the first lap (from the first record's end) nothing more is zeroed.
        let lapEnd = try #require(firstEnd) + UInt64(ring)
        while position < lapEnd {
            position = try file.append(payload: JournalFile.payload(entries(1...3)), session: 2, at: position, zeroingBefore: position + UInt64(ring))
        }
        let payload = JournalFile.payload(entries(1...1))
        let marked = position + file.space(payload: payload.count, at: position) + 8
        let marker: [UInt8] = [0xCD]
        _ = marker.withUnsafeBytes { pwrite(fd, $0.baseAddress, 1, off_t(JournalFile.ringOffset) + off_t(marked % UInt64(ring))) }
        _ = try file.append(payload: payload, session: 2, at: position, zeroingBefore: position + UInt64(ring))
        #expect(byte(at: marked) == 0xCD)
    }

    @Test func aRecordCutShortEndsTheJournalAndALaterRecordSupersedesTheSameSequences() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = try JournalFile.create(in: directory.path, size: 1 << 16, checkpoint: checkpoint())
        var position = try file.append(payload: JournalFile.payload(entries(1...3)), session: 1, at: 0)
        // A batch whose LMDB commit failed, then the next batch from the same sequence.
        position = try file.append(payload: JournalFile.payload(entries(4...6, 50)), session: 1, at: position)
        let cut = position
        position = try file.append(payload: JournalFile.payload(entries(4...5, 90)), session: 1, at: position)
        var (found, _) = try file.entries(session: 1, from: 0)
        #expect(found.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(found.map(\.entry) == (entries(1...3) + entries(4...5, 90)).map(\.entry))
        // The last record's write cut short: one byte of it never reached the disk.
        let fd = open(directory.path + "/journal", O_RDWR)
        defer { close(fd) }
        var byte: UInt8 = 0
        _ = pread(fd, &byte, 1, off_t(JournalFile.ringOffset) + off_t(cut) + 40)
        byte ^= 0xFF
        _ = pwrite(fd, &byte, 1, off_t(JournalFile.ringOffset) + off_t(cut) + 40)
        (found, _) = try file.entries(session: 1, from: 0)
        #expect(found.map(\.sequence) == [1, 2, 3, 4, 5, 6])
        #expect(found.map(\.entry) == (entries(1...3) + entries(4...6, 50)).map(\.entry))
    }

    @Test func theNewerWholeCheckpointWins() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = try JournalFile.create(in: directory.path, size: 1 << 16, checkpoint: checkpoint(number: 1, start: 0))
        try file.writeCheckpoint(checkpoint(number: 2, start: 100))
        #expect(try file.readCheckpoint()?.number == 2)
        // Slot 0 (number 2) torn: number 1, in slot 1, is taken.
        let fd = open(directory.path + "/journal", O_RDWR)
        defer { close(fd) }
        var byte: UInt8 = 0xAA
        _ = pwrite(fd, &byte, 1, 60)
        #expect(try file.readCheckpoint()?.number == 1)
    }
}

/// A batch answered once its journal record is flushed, before LMDB's commit makes it visible
/// (`OperationStore.write(footprint:answering:_:)`, as the engine's writer answers a lone write).
@Suite("Store: answering a batch from the journal")
struct AnsweredFromTheJournalTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)

    func configuration() -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.journalSize = 1 << 20
        configuration.journalCheckpointInterval = .seconds(3600)
        configuration.bootID = JournalTests.thisBoot
        return configuration
    }

    /// One batch through the seam that creates `id` and moves `progressed`, offered to `answer`;
    /// `body` counts how often the batch itself ran.
    func answeredBatch(_ store: Store, creating id: String, progressing progressed: String? = nil, runs: Counter,
                       answer: @escaping (OperationState?) -> Bool) throws -> OperationState? {
        try store.write(footprint: BatchFootprint(), answering: answer) { writer in
            runs.add()
            if let progressed {
                let name = Fixtures.name("operations/\(progressed)")
                _ = try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: Fixtures.payload("t", "half")))],
                                      name: name, time: t0, current: try writer.operation(name))
            }
            let name = Fixtures.name("operations/\(id)")
            return try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: name, time: t0, current: nil).state
        }
    }

    final class Counter: @unchecked Sendable {
        private(set) var value = 0
        func add() { value += 1 }
    }

    func create(_ store: Store, _ id: String) throws {
        try store.write(footprint: BatchFootprint()) { writer in
            _ = try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: Fixtures.name("operations/\(id)"),
                                  time: t0, current: nil)
        }
    }

    @Test func aReadThatBeginsOnceABatchIsAnsweredSeesItThoughLMDBHadNotCommittedItThen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("s"), configuration: configuration(), logger: logger)
        let name = Fixtures.name("operations/a")
        let seen = Mutex<OperationState??>(nil)
        let runs = Counter()
        var answers: [OperationState?] = []
        var reader: Thread?
        let written = try answeredBatch(store, creating: "a", runs: runs) { state in
            answers.append(state)
            // A client told of the batch reads it on another thread while this one has yet to
            // commit it; the commit waits long enough for that read to have begun.
            let thread = Thread { seen.withLock { $0 = .some(try? store.read { try $0.operation(name) }) } }
            thread.start()
            reader = thread
            usleep(50_000)
            return true
        }
        while reader?.isFinished == false { usleep(1_000) }
        #expect(runs.value == 1)
        #expect(answers.count == 1)
        #expect(answers.first??.name == name)
        let read = try #require(seen.withLock { $0 })
        #expect(read != nil)
        #expect(read == written)
        #expect(store.commitFailure == nil)
    }

    @Test func aBatchNotAnsweredFromTheJournalIsAnsweredByTheCaller() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("s"), configuration: configuration(), logger: logger)
        let runs = Counter()
        var offered = 0
        let written = try answeredBatch(store, creating: "a", runs: runs) { _ in
            offered += 1
            return false
        }
        #expect(offered == 1)
        #expect(try store.read { try $0.operation(Fixtures.name("operations/a")) } == written)
    }

    @Test func whenTheMapMustGrowAfterTheAnswerTheJournaledBatchIsCommittedNotTheBatchRunAgain() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.child("s"), configuration: configuration(), logger: logger)
        try create(store, "p")
        let faults = Mutex(1)
        store.answeredCommitFault.withLock {
            $0 = .init {
                faults.withLock { left in
                    guard left > 0 else { return nil }
                    left -= 1
                    return LMDBError(kind: .mapFull, code: -30792, operation: "mdb_txn_commit")
                }
            }
        }
        let runs = Counter()
        var answers: [OperationState?] = []
        let written = try answeredBatch(store, creating: "a", progressing: "p", runs: runs) { state in
            answers.append(state)
            return true
        }
        #expect(runs.value == 1)
        #expect(answers == [written])
        #expect(faults.withLock { $0 } == 0)
        #expect(try store.read { try $0.operation(Fixtures.name("operations/a")) } == written)
        #expect(try store.read { try $0.operation(Fixtures.name("operations/p")) }?.metadata != nil)
        #expect(try store.read { try $0.logHead() } == 3)
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
        // The batches after it continue the log.
        try create(store, "b")
        #expect(try store.read { try $0.logHead() } == 4)
        #expect(try store.verifyLog().problem == nil)
    }

    @Test func whenTheCommitFailsForGoodAfterTheAnswerTheStoreRefusesReadsAndWritesAndItsNextOpenHasTheBatch() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("s")
        var written: OperationState?
        do {
            let store = try Store(directory: path, configuration: configuration(), logger: logger)
            try create(store, "p")
            store.answeredCommitFault.withLock { $0 = .init { LMDBError(kind: .other(code: EIO), code: EIO, operation: "mdb_txn_commit") } }
            var answers = 0
            #expect(throws: StoreError.self) {
                _ = try answeredBatch(store, creating: "a", progressing: "p", runs: Counter()) { state in
                    answers += 1
                    written = state
                    return true
                }
            }
            #expect(answers == 1)
            #expect(store.commitFailure?.kind == .storage)
            #expect(store.commitFailure?.message.contains("restarted") == true)
            // Neither the state without the answered batch, nor anything on top of it.
            #expect(throws: StoreError.self) { try store.read { try $0.operation(Fixtures.name("operations/p")) } }
            #expect(throws: StoreError.self) { try create(store, "b") }
            store.close()
        }
        let reopened = try Store(directory: path, configuration: configuration(), logger: logger)
        #expect(reopened.commitFailure == nil)
        let found = try reopened.read { try $0.operation(Fixtures.name("operations/a")) }
        #expect(found != nil)
        #expect(found == written)
        #expect(try reopened.read { try $0.logHead() } == 3)
        #expect(try reopened.verifyLog().problem == nil)
        try create(reopened, "b")
        #expect(try reopened.read { try $0.logHead() } == 4)
    }
}
