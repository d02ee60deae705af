import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a journal checkpoint writes back (`CheckpointWriteBack`), with the journal's helpers.
extension JournalTests {
    /// What the disk holds of a data file: the pages each checkpoint wrote back, copied from the
    /// file when the checkpoint said it wrote them (the whole file when it flushed all of it).
    /// Nothing else of the file counts as having reached the disk.
    final class Disk: Sendable {
        let source: String
        let image: String

        init(source: String, image: String) {
            self.source = source
            self.image = image
        }

        func wroteBack(_ runs: [Range<Int>]?) {
            let from = open(source + "/data.mdb", O_RDONLY | O_CLOEXEC)
            let to = open(image, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            defer { close(from); close(to) }
            var info = stat()
            fstat(from, &info)
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE))) // LMDB's page size
            let ranges = runs?.map { $0.lowerBound * pageSize..<$0.upperBound * pageSize } ?? [0..<Int(info.st_size)]
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            for range in ranges {
                var offset = range.lowerBound
                while offset < range.upperBound {
                    let count = min(buffer.count, range.upperBound - offset)
                    let got = buffer.withUnsafeMutableBytes { pread(from, $0.baseAddress!, count, off_t(offset)) }
                    guard got > 0 else { break }
                    _ = buffer.withUnsafeBytes { pwrite(to, $0.baseAddress!, got, off_t(offset)) }
                    offset += got
                }
            }
        }
    }

    func configuration(_ writeBack: CheckpointWriteBack, boot: [UInt8] = thisBoot, disk: Disk? = nil) -> Store.Configuration {
        var configuration = configuration(journal: 16 << 20, boot: boot)
        configuration.checkpointWriteBack = writeBack
        if let disk { configuration.checkpointWriteBackObserver = { disk.wroteBack($0) } }
        return configuration
    }

    /// With `fastGrowthFirst`, the store grows "fast" (no zeros written ahead: the room is a hole
    /// read into the page cache, which LMDB's pages then fill) for the first half of the rounds,
    /// then at the usual limit, so that zeros go over the holes left past LMDB's last page.
    @Test(arguments: [false, true])
    func checkpointsWriteBackOnlyTheirStatesPagesAndAPowerLossAfterAnyOfThemLosesNothing(fastGrowthFirst: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let disk = Disk(source: source, image: directory.child("disk"))
        let store = try Store(directory: source, configuration: configuration(.statePages, disk: disk), logger: logger)
        let journal = try #require(store.journal)
        if fastGrowthFirst { journal.zerosGrowthLimit = -1 }
        for first in stride(from: 0, to: 2000, by: 250) {
            try batch(store, (first..<first + 250).map { ("op\($0)", .created(.init())) })
        }
        // Progress on operations all over the file, a checkpoint every 25 batches: once the file
        // stops growing, the checkpoints write back only their states' pages.
        for round in 0..<1200 {
            if round == 600 { journal.zerosGrowthLimit = StoreJournal.fastestGrowthFollowed }
            let note = String(repeating: "round \(round) ", count: round % 7 == 0 ? 200 : 2)
            try batch(store, (0..<8).map { ("op\((round * 37 + $0 * 251) % 2000)", .progressed(metadata: Fixtures.payload("t", note))) })
            if round % 100 == 99 { try batch(store, [("new\(round)", .created(.init()))]) }
            if round % 25 == 24 {
                // As a background checkpoint does: the file extended ahead of LMDB where due, first.
                journal.extendAhead(store)
                try journal.checkpoint(store)
            }
        }
        // Commits after the last checkpoint: in the journal only.
        for round in 0..<10 {
            try batch(store, (0..<8).map { ("op\((round * 11 + $0 * 97) % 2000)", .completed(.response(Fixtures.payload("t", "done")))) })
        }
        let checkpoints = journal.statePageCheckpoints.load(ordering: .relaxed)
        #expect(checkpoints >= 20, "\(checkpoints) of 48 checkpoints wrote back only their states' pages")
        #expect(journal.freePagesLeft.load(ordering: .relaxed) > checkpoints * 100)

        let expected = try fingerprint(store)
        let written = readFileBytes(source + "/data.mdb")
        let held = readFileBytes(disk.image)
        #expect(held != written)
        for seed in 1...6 as ClosedRange<UInt64> {
            let crashed = crashCopy(directory, "crashed\(seed)", data: powerLoss(synced: held, written: written, seed: seed), journalOf: source)
            let reopened = try Store(directory: crashed, configuration: configuration(.wholeFile, boot: Self.nextBoot), logger: logger)
            let found = try fingerprint(reopened)
            #expect(found.0 == expected.0, "seed \(seed)")
            #expect(found.1 == expected.1, "seed \(seed)")
            #expect(found.2 == expected.2, "seed \(seed)")
            reopened.close()
        }
    }

    @Test func theRoomReadAheadOfAFastGrowingStoreIsAHoleWrittenByNothingButLMDB() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let store = try Store(directory: source, configuration: configuration(.statePages), logger: logger)
        let journal = try #require(store.journal)
        journal.zerosGrowthLimit = -1
        for first in stride(from: 0, to: 600, by: 200) {
            try batch(store, (first..<first + 200).map { ("op\($0)", .created(.init(metadata: Fixtures.payload("t", "created")))) })
        }
        journal.extendAhead(store)
        try journal.checkpoint(store)
        let used = store.environment.info.usedBytes
        let file = open(source + "/data.mdb", O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        var info = stat()
        fstat(file, &info)
        // Read ahead past LMDB's last page (32 MiB from where a commit or checkpoint last asked,
        // asked again once less than half is left), and nothing written there: no zeros, no
        // blocks, only a hole.
        #expect(Int(info.st_size) >= used + 16 << 20)
        #expect(lseek(file, off_t(used), StoreJournal.seekData) < 0 && errno == ENXIO, "data past LMDB's last page")
        // A zero-filled room afterwards goes over that hole, never over LMDB's pages.
        let expected = try fingerprint(store)
        journal.zerosGrowthLimit = StoreJournal.fastestGrowthFollowed
        journal.extendAhead(store)
        #expect(lseek(file, off_t(used), StoreJournal.seekHole) >= used + 4 << 20)
        try journal.checkpoint(store)
        let found = try fingerprint(store)
        #expect(found.0 == expected.0)
        #expect(found.1 == expected.1)
        #expect(found.2 == expected.2)
    }

    @Test func aCheckpointAfterTheDataFileGainedBlocksFlushesAllOfIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = directory.child("source")
        let runs = Mutex<[[Range<Int>]?]>([])
        var settings = configuration(.statePages)
        settings.checkpointWriteBackObserver = { written in runs.withLock { $0.append(written) } }
        let store = try Store(directory: source, configuration: settings, logger: logger)
        let journal = try #require(store.journal)
        func round(_ number: Int) throws {
            try batch(store, (0..<50).map { ("op\(number)-\($0)", .created(.init(metadata: Fixtures.payload("t", "created")))) })
            journal.extendAhead(store)
            try journal.checkpoint(store)
        }
        // The first checkpoints extend the file ahead of LMDB and flush all of it; then only the
        // states' pages are written back.
        for number in 0..<4 { try round(number) }
        #expect(runs.withLock { $0.last! != nil })
        // A write past the file's end (as LMDB's when it outgrows the room kept ahead): the file's
        // size and block map changed, and only a flush of the whole file makes them durable.
        let file = open(source + "/data.mdb", O_RDWR | O_CLOEXEC)
        var info = stat()
        fstat(file, &info)
        let page = [UInt8](repeating: 0, count: 4096)
        #expect(page.withUnsafeBytes { pwrite(file, $0.baseAddress!, 4096, off_t(info.st_size)) } == 4096)
        close(file)
        try round(4)
        #expect(runs.withLock { $0.last! == nil })
        // That flush gave the page its block, and the file's block map may have taken one more
        // (the blocks counted changed again): the checkpoint after may flush all of it too.
        try round(5)
        try round(6)
        #expect(runs.withLock { $0.last! != nil })
    }

    @Test func theDataFileIsKeptWrittenAheadOfLMDBButNeverPastTheStoresMaximumSize() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        func fileSize(_ path: String) -> Int {
            var info = stat()
            return stat(path + "/data.mdb", &info) == 0 ? Int(info.st_size) : -1
        }
        // A store with room to grow: 8 MiB written ahead of what LMDB uses.
        let roomy = directory.child("roomy")
        let store = try Store(directory: roomy, configuration: configuration(.statePages), logger: logger)
        try batch(store, [("a", .created(.init()))])
        let journal = try #require(store.journal)
        journal.extendAhead(store)
        try journal.checkpoint(store)
        #expect(fileSize(roomy) >= store.environment.info.usedBytes + 8 << 20 - 4096)
        // One that may not grow past 2 MiB (`--max-store-size`): the file stops there.
        var small = configuration(.statePages)
        small.initialMapSize = 2 << 20
        small.maximumMapSize = 2 << 20
        let bounded = directory.child("bounded")
        let full = try Store(directory: bounded, configuration: small, logger: logger)
        try batch(full, [("a", .created(.init()))])
        let fullJournal = try #require(full.journal)
        fullJournal.extendAhead(full)
        try fullJournal.checkpoint(full)
        #expect(fileSize(bounded) == 2 << 20)
    }

    @Test func onlyExt4InAnOrderedDataModeAllowsIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let dataFile = open(directory.child("data"), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        let journal = open(directory.child("journal"), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(dataFile); close(journal) }
        let onExt4 = WriteBack.fileSystemType(of: dataFile) == FileSystemCheck.ext4Magic
        let refusal = FileSystemCheck.refusal(dataFile: dataFile, journal: journal)
        var status = stat()
        fstat(dataFile, &status)
        let options = try #require(FileSystemCheck.superOptions(device: UInt64(status.st_dev)), "the temporary directory's mount")
        if onExt4 {
            #expect((refusal == nil) == !options.contains("data=journal"), "\(refusal ?? "allowed")")
        } else {
            #expect(refusal?.contains("not on ext4") == true)
        }
        // tmpfs, where present, is not ext4.
        let shared = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if shared >= 0 {
            defer { close(shared) }
            #expect(FileSystemCheck.refusal(dataFile: shared, journal: shared)?.contains("not on ext4") == true)
        }
    }
}
