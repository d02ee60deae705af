import Dispatch
import Synchronization
import LMDB
import Logging
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `full` durability with one flush per commit (docs/FORMAT.md, "Journal").
///
/// LMDB flushes twice per commit: the data pages, then the meta page that points at them, since a
/// meta page that reached the disk before its pages would point at garbage. With the journal, LMDB
/// commits unflushed (`MDB_NOSYNC`) and a batch is durable once its log entries are in the journal
/// (one `fdatasync` of a preallocated file), written before LMDB commits, so no reader ever sees a
/// batch a power loss could take back. What makes the unflushed data file safe is the checkpoint:
/// the data file is flushed, its meta pages are copied into the journal, and that state is pinned
/// (``PinnedSnapshot``) so that LMDB writes every later commit to other pages. After a power loss
/// the meta pages are put back: the data file is then exactly the checkpointed state, whatever
/// reached the disk after it, and the journal's entries after it are copied into the log and
/// folded (replay). Within one boot the data file is as the process left it, and only entries LMDB
/// had not committed yet are applied.
///
/// Every commit takes ``lock``: a batch's journal write and LMDB commit, and any other write (its
/// LMDB commit, then a checkpoint, since the journal holds only log entries; or for a write that
/// may be lost, its LMDB commit alone, ``commitUnflushed(_:_:)``). A checkpoint pins a
/// state under it, so that no commit is halfway through, makes that state's pages durable without
/// it (those pages alone, or the whole data file: ``CheckpointWriteBack``), and takes it again to
/// write the slot. Until a checkpoint releases the last one's pin, LMDB reuses
/// no page freed since, so checkpoints come every ``checkpointInterval`` while commits do: the
/// data file grows by what one interval's commits write, not by what a whole quarter of the ring
/// holds (measured at 64 callers: 3.4× the data file at 30 s as at 500 ms; BENCHMARKS.md). Where
/// checkpoints write back their state's pages alone, the file is also kept written, and read into
/// the page cache, ahead of what LMDB uses (``extendAhead(_:writingZeros:)``).
final class StoreJournal: @unchecked Sendable {
    /// Held across each commit, and while a checkpoint pins its state and writes its slot; guards
    /// everything below.
    private let lock = JournalLock()
    private let file: JournalFile
    private let dataFile: Int32
    private let bootID: [UInt8]
    private let logger: Logger
    private var checkpoint: JournalFile.Checkpoint
    /// The ring position the next record is written at.
    private var position: UInt64
    private var pinned: PinnedSnapshot?
    /// Commits taken under ``lock`` in this session, and how many of them the checkpoint holds: a
    /// state pinned earlier never replaces one pinned later.
    private var commits: UInt64 = 0
    private var checkpointCommits: UInt64 = 0
    private var lastCheckpoint = ContinuousClock.now
    /// After ``stop(_:)``: LMDB flushes its own commits again, and a write that raced the stop
    /// commits that way.
    private var stopped = false
    private var checkpointScheduled = false
    /// Where background checkpoints run: a queue of its own, which gets a thread even while the
    /// global queues' (and Swift's cooperative pool's) are all busy or blocked; the global queue
    /// left checkpoints waiting for seconds under parallel tests.
    private let checkpoints = DispatchQueue(label: "longrun.journal.checkpoints")
    /// A checkpoint once records take this much of the ring, or once the last is this old.
    private let checkpointBytes: UInt64
    private let checkpointInterval: Duration
    /// A checkpoint writes the data file back this much at a time before flushing it, so that a
    /// commit's flush of the journal waits behind one slice rather than the whole interval's pages
    /// (at one caller: p99.9 7–8 ms with one flush, 2.3–2.8 ms with slices; BENCHMARKS.md).
    static let writeBackSlice = 1 << 20
    /// Whether checkpoints write back only their state's pages (``CheckpointWriteBack``), decided
    /// at the start.
    private let statePagesOnly: Bool
    /// Told of every checkpoint's write-back: the runs of pages it wrote, or nil for the whole file.
    private let writeBackObserver: (@Sendable ([Range<Int>]?) -> Void)?
    /// The data file's size and blocks when the state of ``checkpoint`` was pinned.
    private var checkpointAllocation: FileAllocation?
    /// Where the zeros written ahead of LMDB are to reach, while they are being written
    /// (``extendAheadLocked(_:planning:writingZeros:)``).
    private var zerosTarget: Int?
    /// How far the data file is to be read into the page cache ahead of LMDB, while it is.
    private var cacheTarget: Int?
    /// What LMDB used when the last checkpoint looked, and when: the growth since is measured
    /// from it.
    private var lastGrowthSample: (at: ContinuousClock.Instant, usedBytes: Int)?
    private var extensionFailed = false
    /// How far the data file has been read into the page cache ahead of LMDB in this session, how
    /// far it is written (zeros or LMDB's pages, with no hole before) as last seen, and whether a
    /// commit has asked for more to be read (``readAheadMargin``).
    private var cachedThrough = 0
    private var writtenThrough = 0
    private var readAheadScheduled = false
    /// A commit that leaves LMDB's last page closer than this to what is read into the page cache
    /// has more read (``extendAheadLocked(_:planning:writingZeros:)``): a young store outruns any
    /// checkpoint's interval (one caller takes ~100 MB/s of new pages until pages may be reused).
    static let readAheadMargin = 16 << 20
    /// Growth (bytes a second since the last checkpoint) past which no zeros are written ahead:
    /// ``fastestGrowthFollowed``, which tests change.
    var zerosGrowthLimit: Double {
        get { lock.withLock { zerosGrowthLimitValue } }
        set { lock.withLock { zerosGrowthLimitValue = newValue } }
    }
    private var zerosGrowthLimitValue = StoreJournal.fastestGrowthFollowed
    /// Checkpoints that wrote back only their state's pages, and the free pages they left.
    let statePageCheckpoints = Atomic<Int>(0)
    let freePagesLeft = Atomic<Int>(0)

    private init(file: JournalFile, dataFile: Int32, bootID: [UInt8], checkpoint: JournalFile.Checkpoint, checkpointInterval: Duration,
                 statePagesOnly: Bool, writeBackObserver: (@Sendable ([Range<Int>]?) -> Void)?, logger: Logger) {
        self.statePagesOnly = statePagesOnly
        self.writeBackObserver = writeBackObserver
        self.checkpointInterval = checkpointInterval
        self.file = file
        self.dataFile = dataFile
        self.bootID = bootID
        self.checkpoint = checkpoint
        self.position = checkpoint.start
        self.logger = logger
        self.checkpointBytes = file.ringSize / 4
    }

    deinit {
        pinned?.release()
        close(dataFile)
    }

    /// Starts a session on `store`, which is open and has applied what an earlier session left
    /// (``JournalRecovery``): a journal of `size` bytes (kept when it already has that size), a
    /// first checkpoint, and LMDB's commits unflushed from now on.
    static func start(on store: Store, size: Int, checkpointInterval: Duration, writeBack: CheckpointWriteBack,
                      writeBackObserver: (@Sendable ([Range<Int>]?) -> Void)?, previous: JournalFile.Checkpoint?, bootID: [UInt8]) throws -> StoreJournal {
        let path = store.directory + "/data.mdb"
        let dataFile = open(path, O_RDWR | O_CLOEXEC)
        guard dataFile >= 0 else { throw StoreError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        // No readahead through this descriptor (LMDB's own are untouched): what it reads ahead of
        // LMDB comes into the page cache a page per folio
        // (``extendAheadLocked(_:planning:writingZeros:)``).
        _ = posix_fadvise(dataFile, 0, 0, POSIX_FADV_RANDOM)
        let pageSize = UInt32(store.environment.info.pageSize)
        do {
            let pin = try storage { try store.environment.pinSnapshot() }
            let allocation = FileAllocation(of: dataFile)
            try storage { try store.environment.sync(force: true) }
            writeBackObserver?(nil)
            var first = JournalFile.Checkpoint(
                number: (previous?.number ?? 0) + 1, session: (previous?.session ?? 0) + 1, start: 0,
                sequence: try store.read { try $0.logHead() }, bootID: bootID, pageSize: pageSize,
                metas: try readMetas(dataFile, pageSize: Int(pageSize), path: path))
            let existing = try JournalFile.existing(in: store.directory, writable: true)
            let file: JournalFile
            if let existing, existing.size == size {
                file = existing
                try file.writeCheckpoint(first)
            } else {
                first.number = 1
                file = try JournalFile.create(in: store.directory, size: size, checkpoint: first)
            }
            let statePagesOnly: Bool
            switch writeBack {
            case .wholeFile: statePagesOnly = false
            case .statePages: statePagesOnly = true
            case .automatic:
                let refusal = FileSystemCheck.refusal(dataFile: dataFile, journal: file.fd)
                statePagesOnly = refusal == nil
                if let refusal {
                    store.logger.info("journal checkpoints flush the whole data file", metadata: ["reason": "\(refusal)"])
                }
            }
            let journal = StoreJournal(file: file, dataFile: dataFile, bootID: bootID, checkpoint: first, checkpointInterval: checkpointInterval,
                                       statePagesOnly: statePagesOnly, writeBackObserver: writeBackObserver, logger: store.logger)
            journal.pinned = pin
            journal.checkpointAllocation = allocation
            journal.lastGrowthSample = (.now, store.environment.info.usedBytes)
            journal.writtenThrough = journal.firstHole(from: store.environment.info.usedBytes, size: allocation?.size ?? 0)
            try storage { try store.environment.setSyncOnCommit(false) }
            return journal
        } catch {
            close(dataFile)
            throw error
        }
    }

    /// Commits a batch: `body` runs in the write transaction, the entries it appended are written
    /// to the journal and flushed, then LMDB commits without a flush.
    ///
    /// With `answer`, the batch may be answered between the two: once its record is flushed the
    /// batch is durable, and `answer` is called with `body`'s result, on this thread, holding the
    /// write transaction; it returns whether it answered. LMDB's commit (its page writes, ~30 µs at
    /// one caller) then follows the answer instead of preceding it, and ``Store/visibility`` holds
    /// reads back until the batch is visible. If the map must grow after the answer, the
    /// transaction is run again from the batch's journaled entries rather than from `body` (whose
    /// clock and ids could differ from what was answered); if the commit fails for good, the store
    /// stops: reads and commits throw until it is opened again, which applies the journal.
    func commitBatch<R>(_ store: Store, answering answer: ((R) -> Bool)? = nil, _ body: (StoreWriter) throws -> R) throws -> R {
        try lock.withLock {
            guard !stopped else { return try store.commit { txn in try store.writeBatch(txn, body).result } }
            if position - checkpoint.start > file.ringSize / 2 { try checkpointLocked(store) }
            var journaled = true
            var wroteRecord = false
            var answered: (result: R, entries: [(sequence: UInt64, entry: [UInt8])])?
            let result: R
            do {
                result = try store.commit { txn in
                    if let answered {
                        // Run again (the map grew): the answered batch, exactly as journaled.
                        _ = try store.writeBatch(txn) { writer in try store.apply(answered.entries, with: writer) }
                        if let fault = store.answeredCommitFault.withLock({ $0?.error() }) { throw fault }
                        return answered.result
                    }
                    let (result, entries) = try store.writeBatch(txn, journaling: true, body)
                    if !entries.isEmpty {
                        let payload = JournalFile.payload(entries)
                        if file.space(payload: payload.count, at: position) <= file.ringSize - (position - checkpoint.start) {
                            position = try file.append(payload: payload, session: checkpoint.session, at: position,
                                                       zeroingBefore: checkpoint.start + file.ringSize)
                            wroteRecord = true
                            if let answer {
                                store.visibility.close()
                                if answer(result) { answered = (result, entries) } else { store.visibility.open() }
                            }
                            if answered != nil, let fault = store.answeredCommitFault.withLock({ $0?.error() }) { throw fault }
                        } else {
                            // Larger than the ring's free room: made durable by a checkpoint instead.
                            journaled = false
                        }
                    }
                    return result
                }
                if answered != nil { store.visibility.open() }
                commits += 1
                if statePagesOnly, !readAheadScheduled, store.environment.info.usedBytes + Self.readAheadMargin > max(cachedThrough, writtenThrough) {
                    readAheadScheduled = true
                    checkpoints.async {
                        self.extendAhead(store, writingZeros: false)
                        self.lock.withLock { self.readAheadScheduled = false }
                    }
                }
            } catch {
                if let answered {
                    // Answered and journaled: the batch must survive, and nothing may be read or
                    // committed without it. The next open applies it from the journal.
                    let first = answered.entries.first?.sequence ?? 0, last = answered.entries.last?.sequence ?? 0
                    let failure = StoreError(.storage, """
                        a batch answered from the journal (sequences \(first)-\(last)) could not be committed to the data file: \(error). \
                        Reads and writes are refused until longrund is restarted, which applies it from the journal
                        """, underlying: error)
                    logger.critical("an answered batch could not be committed; the store refuses reads and writes until it is opened again",
                                    metadata: ["error": "\(error)", "from": "\(first)", "through": "\(last)"])
                    store.visibility.fail(failure)
                    store.journalSlot.fail(failure)
                    throw failure
                }
                // A record written for a commit that failed must not survive it: a checkpoint moves
                // the start past it. (A later batch's record would supersede it too.)
                guard wroteRecord else { throw error }
                do { try checkpointLocked(store) } catch let checkpointError {
                    logger.error("a commit failed after its journal record was written, and so did the checkpoint that retires the record: the batch may be applied at the next start",
                                 metadata: ["commit_error": "\(error)", "checkpoint_error": "\(checkpointError)"])
                }
                throw error
            }
            if !journaled {
                // Answered only once the checkpoint made it durable.
                try checkpointLocked(store)
            } else if !checkpointScheduled, position - checkpoint.start >= checkpointBytes
                        || (position != checkpoint.start && ContinuousClock.now - lastCheckpoint >= checkpointInterval)
            {
                checkpointScheduled = true
                checkpoints.async { self.checkpointInBackground(store) }
            }
            return result
        }
    }

    /// A checkpoint that holds up commits only to pin the state and to write the slot: the data
    /// file is flushed between the two without the lock.
    private func checkpointInBackground(_ store: Store) {
        extendAhead(store)
        let pending: PendingCheckpoint
        do {
            guard let pinned = try lock.withLock({ () throws -> PendingCheckpoint? in
                guard !stopped else {
                    checkpointScheduled = false
                    return nil
                }
                return try pinLocked(store)
            }) else { return }
            pending = pinned
        } catch {
            lock.withLock { checkpointScheduled = false }
            logger.error("could not write a journal checkpoint", metadata: ["error": "\(error)"])
            return
        }
        let flushed = Result { try writeBack(pending, store) }
        lock.withLock {
            checkpointScheduled = false
            do {
                try flushed.get()
                guard !stopped else { return pending.pin.release() }
                try publishLocked(pending)
            } catch {
                pending.pin.release()
                // Commits go on: they are in the journal. The next checkpoint due tries again, and
                // one the ring's room needs is taken by a commit, which fails if it fails.
                logger.error("could not write a journal checkpoint", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Commits a write that is not a batch of log entries (compaction, forgetting, a checkpoint of
    /// the scrub): its LMDB commit and a checkpoint make it durable before this returns. Commits
    /// are held up as by a background checkpoint, not for the data file's flush.
    func commitOther<R>(_ store: Store, _ body: (WriteTransaction) throws -> R) throws -> R {
        let (result, pending) = try lock.withLock { () throws -> (R, PendingCheckpoint?) in
            let result = try store.commit(body)
            commits += 1
            guard !stopped else { return (result, nil) }
            return (result, try pinLocked(store))
        }
        guard let pending else { return result }
        do {
            try writeBack(pending, store)
        } catch {
            pending.pin.release()
            throw error
        }
        try lock.withLock {
            // A stop in between wrote a checkpoint of a later state, with LMDB's own flushes back on.
            guard !stopped else { return pending.pin.release() }
            try publishLocked(pending)
        }
        return result
    }

    /// Commits a write that may be lost in a machine crash without harm (how far the log was
    /// checked): LMDB commits it unflushed, under ``lock`` as any commit, and the next checkpoint
    /// (or the stop's) makes it durable with the batches before it. After a power loss the data
    /// file goes back to the last checkpoint and the journal reapplies only log entries, so a
    /// write that must survive goes through ``commitOther(_:_:)`` instead.
    func commitUnflushed<R>(_ store: Store, _ body: (WriteTransaction) throws -> R) throws -> R {
        try lock.withLock {
            let result = try store.commit(body)
            commits += 1
            return result
        }
    }

    /// A state pinned with its meta pages, to become the checkpoint once the data file has been
    /// flushed.
    private struct PendingCheckpoint {
        var checkpoint: JournalFile.Checkpoint
        var pin: PinnedSnapshot
        /// ``commits`` when it was pinned.
        var commits: UInt64
        var allocation: FileAllocation?
        /// The last page of the pinned state, when its pages alone may be written back: the data
        /// file's allocation is as when the last checkpoint's state was pinned (which the
        /// last checkpoint's own write-back made durable).
        var statePagesThrough: Int?
    }

    /// Pins the state of the last commit and reads its meta pages. Holding ``lock``, so that no
    /// commit is halfway through.
    private func pinLocked(_ store: Store) throws -> PendingCheckpoint {
        let pin = try storage { try store.environment.pinSnapshot() }
        do {
            var next = checkpoint
            next.start = position
            next.sequence = try store.read { try $0.logHead() }
            next.metas = try Self.readMetas(dataFile, pageSize: Int(checkpoint.pageSize), path: store.directory + "/data.mdb")
            next.bootID = bootID
            // No commit is under way: the environment's newest state is the pinned one.
            let info = store.environment.info
            let allocation = FileAllocation(of: dataFile)
            let statePages = statePagesOnly && pinned != nil && allocation != nil && allocation == checkpointAllocation
                && info.lastTransactionID == pin.transactionID
            return PendingCheckpoint(checkpoint: next, pin: pin, commits: commits, allocation: allocation,
                                     statePagesThrough: statePages ? info.usedBytes / info.pageSize - 1 : nil)
        } catch {
            pin.release()
            throw error
        }
    }

    /// Extends the data file ahead of LMDB where it is due
    /// (``extendAheadLocked(_:planning:writingZeros:)``), a piece at a time under ``lock``, so that
    /// commits wait for one piece at most; the reads ahead without it. Before each background
    /// checkpoint, and the reads alone when a commit nears their end; tests call it before the
    /// checkpoints they take.
    func extendAhead(_ store: Store, writingZeros: Bool = true) {
        guard statePagesOnly else { return }
        var planning = true
        var buffer: [UInt8] = []  // one for every piece read: 1 MiB allocated and faulted in once
        while let step = lock.withLock({ stopped ? nil : extendAheadLocked(store, planning: planning, writingZeros: writingZeros) }) {
            planning = false
            guard case .read(let pages) = step else { continue }
            // Outside the lock: a read takes nothing from LMDB's commits, which may write these
            // pages meanwhile (they only ever hold zeros or LMDB's own).
            if buffer.count < pages.count { buffer = [UInt8](repeating: 0, count: pages.count) }
            var offset = pages.lowerBound
            while offset < pages.upperBound {
                let read = buffer.withUnsafeMutableBytes { pread(dataFile, $0.baseAddress!, pages.upperBound - offset, off_t(offset)) }
                if read < 0, errno == EINTR { continue }
                guard read > 0 else { break }
                offset += read
            }
        }
    }

    /// What one hold of ``lock`` in ``extendAhead(_:writingZeros:)`` did, or left to do after it.
    private enum ExtensionStep {
        /// Zeros written (up to 1 MiB).
        case wrote
        /// The bytes of the data file to read into the page cache (up to 1 MiB), outside the lock.
        case read(Range<Int>)
    }

    /// Keeps the data file written (with zeros) past LMDB's last page by at least half of
    /// ``roomAhead(usedBytes:growthPerSecond:)``, so that the pages LMDB adds as the store grows
    /// land on blocks the file already has: only then may a checkpoint write back its state's
    /// pages alone (``CheckpointWriteBack``), and the checkpoint after an extension flushes the
    /// whole file, its new blocks with it. And keeps the pages past LMDB's last page in the page
    /// cache a page per folio, further ahead (below). `planning` on the first call of an
    /// ``extendAhead(_:writingZeros:)``: it measures the growth and sets the targets (no zeros
    /// unless `writingZeros`). Writes up to 1 MiB of zeros, or says which 1 MiB to read
    /// (``extendAhead(_:writingZeros:)`` reads it without the lock); nil once nothing is left to do.
    /// Holding ``lock``: LMDB writes pages only in a commit, under the same lock, so none writes
    /// meanwhile, and the zeros go only past LMDB's last page, where no page LMDB uses lies, and
    /// only over holes (past the file's end, or left by the reads below).
    ///
    /// A page at a time, and ahead of LMDB rather than left to its writes past the end: the kernel
    /// keeps a file's pages in the page cache in folios as large as the write that brought them in
    /// (Linux 6.x, ext4's large folios), marks a folio dirty whole, and writes it back whole, so a
    /// page of LMDB's in a folio of 1 MiB would take the other 255 pages, free ones included, to
    /// the disk at every checkpoint (measured: 104.9 MB written back for 10 MB of pages in 4 KiB
    /// ranges of a file written 1 MiB at a time, 10.5 MB for one written 4 KiB at a time). A
    /// write that fails (a full disk) is left for the next checkpoint; LMDB's own writes report a
    /// full disk.
    ///
    /// Zeros cannot keep ahead of a fast growth (over ``zerosGrowthLimit`` they would reach the
    /// disk as well as the pages LMDB writes over them), nor of the first interval's, so past them
    /// the room is a hole read into the page cache: the file extended (`ftruncate`, no blocks) and
    /// read through this journal's descriptor, which reads no further ahead than asked, so each
    /// page gets a folio of its own that LMDB's writes then fill (clean until then: nothing
    /// reaches the disk). Two seconds of the growth ahead at least, and 32 MiB. LMDB's pages there
    /// take new blocks, so those checkpoints flush the whole file, as they would after LMDB's own
    /// writes past the end; its pages stay in small folios, and a checkpoint that writes back its
    /// state's pages takes no large folio's neighbours with them (measured after 40 s at one caller
    /// from a new store, before this: 2,128 of the 2,263 dirty pages of the state were in large
    /// folios that LMDB's writes past the file's end had made).
    private func extendAheadLocked(_ store: Store, planning: Bool, writingZeros: Bool) -> ExtensionStep? {
        guard let allocation = FileAllocation(of: dataFile) else { return nil }
        let info = store.environment.info
        if planning {
            // The growth since the last checkpoint's look (a commit's read ahead leaves it be).
            let now = ContinuousClock.now
            let growth = lastGrowthSample.map { last in
                Double(info.usedBytes - last.usedBytes) / max(0.25, (now - last.at) / .seconds(1))
            } ?? 0
            if writingZeros { lastGrowthSample = (now, info.usedBytes) }
            let room = Self.roomAhead(usedBytes: info.usedBytes, growthPerSecond: growth)
            // Never past the store's maximum size (`--max-store-size`). Past the current map is
            // fine: LMDB writes there once it has grown the map, and its own writes past the
            // file's end would leave pages in large folios.
            let limit = store.environment.configuration.maximumMapSize
            let target = min(info.usedBytes + room, limit)
            writtenThrough = firstHole(from: info.usedBytes, size: allocation.size)
            if zerosTarget == nil, writingZeros, growth <= zerosGrowthLimitValue, writtenThrough < info.usedBytes + room / 2,
               writtenThrough < target {
                zerosTarget = target
            }
            // Past what is written (or about to be), where the zeros have not kept up: a read
            // that extends the file changes its size, so the next checkpoint flushes all of it.
            let ahead = max(room, Self.cappedRoom(growth * 2), 32 << 20)
            let cached = max(cachedThrough, zerosTarget ?? writtenThrough)
            if cacheTarget == nil, cached < info.usedBytes + ahead / 2, cached < min(info.usedBytes + ahead, limit) {
                cacheTarget = min(info.usedBytes + ahead, limit)
            }
        }
        if let target = zerosTarget {
            let from = firstHole(from: info.usedBytes, size: allocation.size)
            if from < target {
                let zeros = [UInt8](repeating: 0, count: info.pageSize)
                var offset = from
                let end = min(offset + (1 << 20), target, nextData(from: offset, size: allocation.size))
                while offset < end {
                    let written = zeros.withUnsafeBytes { pwrite(dataFile, $0.baseAddress!, $0.count, off_t(offset)) }
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { return failedExtension(store, written < 0 ? String(cString: strerror(errno)) : "nothing written") }
                    offset += written
                }
                writtenThrough = max(writtenThrough, offset)
                extensionFailed = false
                return .wrote
            }
            zerosTarget = nil
        }
        if let target = cacheTarget {
            // Only ever longer: LMDB writes no page past what it uses but in a commit, under the lock.
            if allocation.size < target, ftruncate(dataFile, off_t(target)) != 0 {
                return failedExtension(store, String(cString: strerror(errno)))
            }
            let from = max(cachedThrough, writtenThrough, info.usedBytes / info.pageSize * info.pageSize)
            if from < target {
                cachedThrough = min(from + (1 << 20), target)
                return .read(from..<cachedThrough)
            }
            cacheTarget = nil
        }
        return nil
    }

    /// An extension that failed: left for the next checkpoint, and logged once until one succeeds
    /// again (a full disk would otherwise say so at every checkpoint). Returns nil: nothing more.
    private func failedExtension(_ store: Store, _ error: String) -> ExtensionStep? {
        zerosTarget = nil
        cacheTarget = nil
        if !extensionFailed {
            logger.warning("could not extend the data file ahead of its use; checkpoints flush all of it until it is", metadata: [
                "path": "\(store.directory)/data.mdb", "error": "\(error)",
            ])
        }
        extensionFailed = true
        return nil
    }

    /// The first offset at or past `offset` (LMDB's last page's end) that the data file has no
    /// block for: the file's end unless the reads ahead left a hole
    /// (``extendAheadLocked(_:planning:writingZeros:)``). Pages read into the page cache there are
    /// still a hole; pages written and not yet given their blocks are not.
    private func firstHole(from offset: Int, size: Int) -> Int {
        guard offset < size else { return size }
        let hole = lseek(dataFile, off_t(offset), Self.seekHole)
        return hole < 0 ? size : min(Int(hole), size)
    }

    /// Where the data past the hole at `offset` starts: the file's end if none does.
    private func nextData(from offset: Int, size: Int) -> Int {
        guard offset < size else { return Int.max }
        let data = lseek(dataFile, off_t(offset), Self.seekData)
        return data < 0 ? size : Int(data)
    }

    /// `SEEK_DATA` and `SEEK_HOLE` (Linux, glibc's `unistd.h` under `_GNU_SOURCE`).
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

    /// Growth (bytes a second since the last checkpoint) past which no zeros are written ahead and
    /// the room is left a hole read into the page cache, its checkpoints flushing all of the file:
    /// zeros written as fast as that are written to the disk twice (zeros, then pages), and W6
    /// in-process (64 tasks, a young store, ~100 MB/s) ran at half its rate with them. A steady
    /// store grows far slower (~3 MB/s at one caller, ~15 MB/s at 64 over the socket).
    static let fastestGrowthFollowed = 32.0 * 1e6

    /// How far past LMDB's last page ``extendAheadLocked(_:planning:writingZeros:)`` keeps the data
    /// file written: room for 30 s of the growth since the last checkpoint, or an eighth of what
    /// LMDB uses if more; at least 8 MiB, and at most 512 MiB and what LMDB uses or 32 MiB if more
    /// (a small store, a test's, is not made many times larger by a burst). An extension, and the
    /// flush of the whole file after it, so comes about every 15 s of steady growth or less often,
    /// once the store is larger than that much growth. A young store outruns it: with no free pages
    /// to reuse yet, every interval's commits take new pages (48 MB in the first 500 ms at four
    /// callers), and the room is a hole read into the page cache until the store settles.
    static func roomAhead(usedBytes: Int, growthPerSecond: Double) -> Int {
        let wanted = max(usedBytes / 8, cappedRoom(growthPerSecond * 30))
        return max(8 << 20, min(wanted, max(usedBytes, 32 << 20), 512 << 20))
    }

    /// `bytes` as a count of bytes, at most 512 MiB.
    static func cappedRoom(_ bytes: Double) -> Int { Int(min(max(bytes, 0), Double(512 << 20))) }

    /// Writes `pending` into the journal as the new checkpoint and pins its state in place of the
    /// last one; the data file was flushed after it was pinned, so every page of that state is on
    /// disk. Unless `force`, it is dropped when the last checkpoint is of the same state or a later
    /// one (written meanwhile by a commit that needed one), which covers it. Holding ``lock``.
    private func publishLocked(_ pending: PendingCheckpoint, force: Bool = false) throws {
        guard force || pending.commits > checkpointCommits else { return pending.pin.release() }
        var next = pending.checkpoint
        next.number = checkpoint.number + 1
        do { try file.writeCheckpoint(next) } catch {
            pending.pin.release()
            throw error
        }
        checkpoint = next
        checkpointCommits = pending.commits
        checkpointAllocation = pending.allocation
        pinned?.release()
        pinned = pending.pin
        lastCheckpoint = .now
    }

    /// A checkpoint while commits wait: pin, flush, publish, whether or not a commit came since the
    /// last one. Holding ``lock``.
    private func checkpointLocked(_ store: Store, wholeFile: Bool = false) throws {
        var pending = try pinLocked(store)
        if wholeFile { pending.statePagesThrough = nil }
        do {
            try writeBack(pending, store, inSlices: false)
        } catch {
            pending.pin.release()
            throw error
        }
        try publishLocked(pending, force: true)
    }

    /// Makes the state `pending` pinned durable in the data file before its checkpoint is written:
    /// its own pages, written back, and the disk's cache flushed through the journal, when
    /// ``PendingCheckpoint/statePagesThrough`` allows it (``CheckpointWriteBack``); otherwise the
    /// whole file, `inSlices` of ``writeBackSlice`` when commits may run meanwhile.
    private func writeBack(_ pending: PendingCheckpoint, _ store: Store, inSlices: Bool = true) throws {
        guard let lastPage = pending.statePagesThrough else {
            try storage { try inSlices ? store.environment.sync(inSlicesOf: Self.writeBackSlice) : store.environment.sync(force: true) }
            writeBackObserver?(nil)
            return
        }
        let free = try storage { try pending.pin.freePages() }
        let runs = try storage { try store.environment.writeBack(throughPage: lastPage, skipping: free, inSlicesOf: Self.writeBackSlice) }
        writeBackObserver?(runs)
        try file.flush()
        statePageCheckpoints.add(1, ordering: .relaxed)
        freePagesLeft.add(free.count, ordering: .relaxed)
    }

    /// Returns once the checkpoint scheduled in the background, if any, has been written or has
    /// failed: the data file and the journal then change only with the next commit.
    func backgroundCheckpointsSettled() {
        checkpoints.sync {}
    }

    /// Writes a checkpoint now.
    func checkpoint(_ store: Store) throws {
        try lock.withLock {
            guard !stopped else { return }
            try checkpointLocked(store)
        }
    }

    /// LMDB's own flushes back on, the data file flushed, and the journal removed: a directory
    /// closed cleanly has none, so a build without the journal can open it too.
    func stop(_ store: Store) throws {
        try lock.withLock {
            guard !stopped else { return }
            stopped = true
            try storage { try store.environment.setSyncOnCommit(true) }
            // The whole file, as LMDB's own flushes will: nothing will put its meta pages back.
            try checkpointLocked(store, wholeFile: true)
            pinned?.release()
            pinned = nil
            JournalFile.remove(in: store.directory)
        }
    }

    static func readMetas(_ fd: Int32, pageSize: Int, path: String) throws -> [UInt8] {
        var metas = [UInt8](repeating: 0, count: 2 * JournalFile.metaBytes)
        for page in 0..<2 {
            let got = metas.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + page * JournalFile.metaBytes, JournalFile.metaBytes, off_t(page * pageSize))
            }
            guard got == JournalFile.metaBytes else {
                throw StoreError(.storage, "cannot read the meta pages of \(path): \(got < 0 ? String(cString: strerror(errno)) : "short read")")
            }
        }
        return metas
    }

    /// This boot's id (`/proc/sys/kernel/random/boot_id`, 16 bytes), or zeros where there is none,
    /// which makes every open restore the meta pages (always safe, only slower).
    static func currentBootID() -> [UInt8] {
        let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [UInt8](repeating: 0, count: 16) }
        defer { close(fd) }
        var text = [UInt8](repeating: 0, count: 64)
        let count = text.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 64) }
        let hex = text.prefix(max(0, count)).filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "\n") }
        guard hex.count == 32 else { return [UInt8](repeating: 0, count: 16) }
        func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : (c | 0x20) - UInt8(ascii: "a") + 10 }
        return (0..<16).map { nibble(hex[hex.startIndex + 2 * $0]) << 4 | nibble(hex[hex.startIndex + 2 * $0 + 1]) }
    }
}

/// What an open finds in a data directory's journal, read before LMDB opens the data file.
struct JournalRecovery {
    /// The newest checkpoint, nil when the directory has no journal.
    var checkpoint: JournalFile.Checkpoint?
    /// The entries committed after it, to copy into the log where it does not hold them yet.
    var entries: [(sequence: UInt64, entry: [UInt8])] = []
    /// Whether the meta pages were put back (the machine restarted since the checkpoint).
    var restoredMetas = false
    /// Whether the machine stopped since the checkpoint (its boot id is not this boot's): the
    /// entries after it were acknowledged, where within one boot those LMDB lacks never were.
    var machineStopped = false

    /// Reads the journal of `directory`; when the machine restarted since its checkpoint and the
    /// data file's meta pages differ from the checkpoint's, puts them back (a writable open) or
    /// refuses (a read-only one, which must not change the directory).
    init(directory: String, readOnly: Bool, bootID: [UInt8], logger: Logger) throws {
        let dataPath = directory + "/data.mdb"
        guard access(dataPath, F_OK) == 0, let file = try JournalFile.existing(in: directory, writable: false) else { return }
        guard let checkpoint = try file.readCheckpoint() else {
            throw StoreError(.dataLoss, """
                \(file.path) holds no whole checkpoint: the journal is damaged, and the commits it holds cannot be applied. \
                Nothing was changed. Restore the data directory from a backup
                """)
        }
        self.checkpoint = checkpoint
        // A read-only open applies nothing, so it need not read the records.
        if !readOnly { self.entries = try file.entries(session: checkpoint.session, from: checkpoint.start).entries }
        guard checkpoint.bootID != bootID || bootID.allSatisfy({ $0 == 0 }) else { return }
        machineStopped = true
        let fd = open(dataPath, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.storage, "cannot open \(dataPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let pageSize = Int(checkpoint.pageSize)
        let current = try? StoreJournal.readMetas(fd, pageSize: pageSize, path: dataPath)
        guard current != checkpoint.metas else { return }
        guard !readOnly else {
            throw StoreError(.unavailable, """
                \(directory) was being written with its journal when the machine stopped, and its data file must be \
                brought back to the journal's last checkpoint before it can be read. Nothing was changed. \
                Start longrund on it once (it does so, and applies the journal), then run this again
                """)
        }
        for page in 0..<2 {
            let written = checkpoint.metas.withUnsafeBytes {
                pwrite(fd, $0.baseAddress! + page * JournalFile.metaBytes, JournalFile.metaBytes, off_t(page * pageSize))
            }
            guard written == JournalFile.metaBytes else {
                throw StoreError(.storage, "cannot restore the meta pages of \(dataPath): \(written < 0 ? String(cString: strerror(errno)) : "short write")")
            }
        }
        guard fdatasync(fd) == 0 else {
            throw StoreError(.storage, "cannot flush \(dataPath): \(String(cString: strerror(errno)))")
        }
        restoredMetas = true
        logger.notice("the machine restarted since the journal's last checkpoint: the data file was brought back to it", metadata: [
            "checkpoint_sequence": "\(checkpoint.sequence)", "journal_entries": "\(entries.count)",
        ])
    }
}

/// A plain mutex, held across blocking I/O (which is what it serializes).
private final class JournalLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
