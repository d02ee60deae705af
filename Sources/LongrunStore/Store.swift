import LMDB
public import Logging
import LongrunDomain
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The data directory: the append-only log and the views folded from it, in one LMDB environment.
///
/// Every write appends events, folds them into the views and records the applied sequence in one
/// transaction. On open, a log that is ahead of the views (views dropped, a crash between a commit
/// of an older build and its fold, a new view) is replayed before anything is served.
public final class Store: Sendable {
    public struct Configuration: Sendable {
        /// fsync at every commit (`full` durability). `false` leaves durability to ``Store/sync()``.
        public var syncOnCommit = true
        /// With ``syncOnCommit``, the size of the write-ahead journal that makes each batch durable
        /// with one flush instead of LMDB's two (``StoreJournal``); 0 leaves the flushes to LMDB. A
        /// journal left by an earlier open is applied either way.
        public var journalSize = 0
        /// How old the journal's last checkpoint may be at a commit before one is taken in the
        /// background. Until then LMDB reuses no page freed since that checkpoint, so the data file
        /// grows by what the commits of one interval write (docs/FORMAT.md, "Journal").
        package var journalCheckpointInterval: Duration = .milliseconds(500)
        /// What a checkpoint writes back of the data file (``CheckpointWriteBack``).
        package var checkpointWriteBack = CheckpointWriteBack.automatic
        /// Told of each checkpoint's write-back: the runs of pages it wrote back, nil for the whole
        /// file (tests, which keep what a disk would hold).
        package var checkpointWriteBackObserver: (@Sendable ([Range<Int>]?) -> Void)?
        /// This boot's id as the journal records it; nil reads the system's. Tests set another to
        /// open a store as after a power loss.
        package var bootID: [UInt8]?
        public var initialMapSize = 64 << 20
        public var maximumMapSize = 1 << 40
        /// Events folded per transaction while replaying, bounding the transaction's size.
        public var replayChunk = 50_000
        public var readOnly = false
        /// Check the hash chain of the log after the newest usable snapshot before serving, and refuse
        /// a damaged log. (The whole log is checked by `longrun-replay verify`.)
        public var verifyRecentLog = true
        /// Return from the open, so that reads are served, before the writes it makes when nothing it
        /// serves waits on them: the journal's first checkpoint (after a crash, a flush of what the
        /// dead process left unwritten) and the journal's entries LMDB had not committed. Commits wait
        /// for those (``JournalSlot``). An open that must fold or rebuild views writes first either way.
        public var serveReadsWhileOpening = false
        /// Fails the open's writes with this error (tests: what a failure after reads were served does).
        package var openingFault: StoreError?

        public init() {}
    }

    /// The file a daemon holds a lock on while it owns the directory; allowed beside a new store.
    public static let daemonLockFile = "longrund.lock"
    /// Where snapshots of this store live, inside its directory.
    public var snapshotDirectory: String { directory + "/snapshots" }

    public let directory: String
    /// ``Configuration/replayChunk``.
    let replayChunk: Int
    let environment: Environment
    let schema: Schema
    let logger: Logger
    /// The journal while one is on: set by the open's writes (``finishOpening(_:)``), cleared by
    /// ``close()``.
    let journalSlot = JournalSlot()
    var journal: StoreJournal? { journalSlot.journal }
    /// Closed while a batch is answered and not yet visible
    /// (``StoreJournal/commitBatch(_:answering:_:)``).
    let visibility = VisibilityGate()
    /// Tests: an error thrown in place of LMDB's commit right after a batch was answered from the
    /// journal (each call; nil commits). In a struct: a bare closure in a `Mutex` gains two thunks
    /// at every access (see `ObserverSlot` in LongrunEngine).
    let answeredCommitFault = Mutex<AnsweredCommitFault?>(nil)

    struct AnsweredCommitFault: Sendable {
        let error: @Sendable () -> (any Error)?
    }
    /// Why the open's writes failed after it had begun serving reads
    /// (``Configuration/serveReadsWhileOpening``): every commit fails with it until the store is
    /// opened again. Nil otherwise.
    public var openingFailure: StoreError? { journalSlot.failure }
    /// Why the store refuses reads and commits until it is opened again: a batch answered from the
    /// journal could not be committed to the data file
    /// (``StoreJournal/commitBatch(_:answering:_:)``). Nil otherwise.
    public var commitFailure: StoreError? { visibility.failure }
    /// Whether the open is still writing after it began serving reads: commits wait for it.
    public var isOpening: Bool { journalSlot.isOpening }

    public init(directory: String, configuration: Configuration = .init(), logger: Logger) throws {
        self.directory = directory
        self.replayChunk = configuration.replayChunk
        self.logger = logger
        let bootID = configuration.bootID ?? StoreJournal.currentBootID()
        // Before anything reads the data file: after a power loss its meta pages may point at pages
        // that never reached the disk.
        let recovery = try JournalRecovery(directory: directory, readOnly: configuration.readOnly, bootID: bootID, logger: logger)
        try Self.prepareDirectory(directory, readOnly: configuration.readOnly)
        var environmentConfiguration = Environment.Configuration(path: directory)
        environmentConfiguration.syncOnCommit = configuration.syncOnCommit
        environmentConfiguration.initialMapSize = configuration.initialMapSize
        environmentConfiguration.maximumMapSize = configuration.maximumMapSize
        environmentConfiguration.readOnly = configuration.readOnly
        let environment = try storage { try Environment(configuration: environmentConfiguration) }
        self.environment = environment

        let existing = try storage { try environment.databaseNames() }
        if !existing.isEmpty && !existing.contains("meta") {
            throw StoreError(.foreignDirectory,
                             "\(directory) holds an LMDB environment that is not a Longrun store (databases: \(existing.prefix(5).joined(separator: ", "))); nothing was changed. Point the data directory at a Longrun store, or at a new or empty directory")
        }
        // Read once, before the schema opens (and would create) its databases: a store of another
        // format may lay them out differently, and must be refused untouched.
        var found: UInt32?
        if existing.contains("meta") {
            let meta = try storage { try environment.openDatabase("meta", create: false) }
            found = try storage { try environment.read { txn in try Schema.formatVersion(in: txn, meta: meta) } }
            if let found, found != Schema.formatVersion {
                guard found >= Schema.oldestConvertibleFormat && found < Schema.formatVersion else {
                    throw Self.unsupportedFormat(found, directory: directory)
                }
                guard !configuration.readOnly else {
                    throw StoreError(.unsupportedFormat, """
                        \(directory) has store format \(found), which this build converts to format \(Schema.formatVersion) \
                        (records gain checksums) when it opens the store for writing; nothing was changed. Start longrund on it \
                        once (it converts in place, showing progress, and can be interrupted), then run this again
                        """)
                }
            }
        }
        if existing.isEmpty && configuration.readOnly {
            throw StoreError(.foreignDirectory, "\(directory) holds no Longrun store")
        }
        if configuration.readOnly, let missing = Schema.databaseNames.first(where: { !existing.contains($0) }) {
            // A database a newer build added: a read-only open cannot create it.
            throw StoreError(.missingDatabase, """
                \(directory) lacks the database '\(missing)' of this build's schema; a read-only open cannot add it. \
                Start longrund on it once (it adds the database, converting the store in place), then run this again
                """, database: missing)
        }
        self.schema = try storage { try Schema(environment: environment) }
        try checkOrInitializeFormat(found: found, fresh: existing.isEmpty, readOnly: configuration.readOnly)
        guard !configuration.readOnly else { return }
        // What the open refuses, read before anything is written.
        let checked = configuration.verifyRecentLog ? try checkRecentLog() : nil
        let opening = Opening(
            recovery: recovery, checkedLog: checked, journalSize: configuration.syncOnCommit ? configuration.journalSize : 0,
            checkpointInterval: configuration.journalCheckpointInterval,
            checkpointWriteBack: configuration.checkpointWriteBack, checkpointWriteBackObserver: configuration.checkpointWriteBackObserver, bootID: bootID, chunk: configuration.replayChunk,
            fault: configuration.openingFault)
        // After a machine stop the journal's entries were acknowledged (LMDB had committed them in
        // the page cache that was lost): reads wait for them. Within one boot so do entries LMDB
        // lacks: a lone write is answered once its record is flushed, before LMDB commits it
        // (``StoreJournal/commitBatch(_:answering:_:)``), so they may have been acknowledged too.
        let servesReadsFirst = try configuration.serveReadsWhileOpening && !recovery.machineStopped && !mustWriteBeforeServing()
            && missingEntries(recovery).isEmpty
        // Within one boot the journal's entries are applied after the new session's checkpoint,
        // which makes the old session's records unreadable: entries the open must refuse are
        // refused before it. (After a machine stop they are applied before anything else.)
        if !recovery.machineStopped { try checkJournalEntries(recovery) }
        // Nothing may throw from here on but the open's writes, whose failure opens the gate again.
        journalSlot.beginOpening()
        if servesReadsFirst {
            let slot = journalSlot
            DispatchQueue(label: "longrun.store.opening").async { [self] in
                slot.claim(nil)
                let result = finishOpening(opening).mapError { error in
                    logger.error("the store could not finish opening: it serves reads, and refuses writes until longrund is restarted",
                                 metadata: ["error": "\(error.message)"])
                    return StoreError(error.kind, "the store could not finish opening (\(error.message)); it serves reads, and refuses writes until longrund is restarted",
                                      underlying: error)
                }
                slot.finish(result)
            }
        } else {
            journalSlot.claim(nil)
            let result = finishOpening(opening)
            journalSlot.finish(result)
            try result.get()
        }
    }

    deinit { close() }

    /// Views folded by other rules than this build's are folded again from the log: a build that
    /// adds (or drops) a view, since the applied sequence says nothing about a view that did not
    /// exist when it was written; and a build whose ``Lifecycle/foldRevision`` differs, since its
    /// `apply` would have left other states. The new rules are recorded only once the views are
    /// whole, so a crash part way folds them again at the next open.
    private func rebuildViewsIfTheirRulesChanged(chunk: Int) throws {
        let currentSet = schema.viewSetDescription
        var (storedSet, revision) = try viewRules()
        guard storedSet != currentSet || revision != Lifecycle.foldRevision else { return }
        // Conversions in place, oldest first; each leaves the view set the next one starts from.
        if storedSet == Self.viewSetBeforeTombstones, revision == Lifecycle.foldRevision {
            try moveTombstonesOutOfOperations()
            storedSet = Self.viewSetBeforeHistoryByCreation
        }
        if storedSet == Self.viewSetBeforeHistoryByCreation, revision == Lifecycle.foldRevision {
            // Records first: the history's conversion finds each operation's create sequence in its
            // record.
            try keyRecordsByCreation()
            try keyHistoryByCreation()
            storedSet = currentSet
        }
        if storedSet == Self.viewSetBeforeRecordsByCreation, revision == Lifecycle.foldRevision {
            try keyRecordsByCreation()
            storedSet = currentSet
        }
        if storedSet == Self.viewSetBeforeDoneApart, revision == Lifecycle.foldRevision {
            try moveDoneRecordsApart()
            storedSet = currentSet
        }
        if storedSet == currentSet, revision == Lifecycle.foldRevision {
            // Converted in place.
        } else if try read({ try $0.logHead() }) > 0 {
            if storedSet != currentSet {
                logger.notice("the set of views changed; rebuilding them from the log", metadata: ["was": "\(storedSet ?? "(unrecorded)")", "now": "\(currentSet)"])
                try rebuildViews(chunk: chunk)
            } else {
                logger.notice("this build folds events by other rules; rebuilding the views from the log",
                              metadata: ["fold_revision_was": "\(revision)", "now": "\(Lifecycle.foldRevision)"])
                try rebuildViews(chunk: chunk, fromASnapshotOfOtherRules: true)
            }
        }
        // A rebuild leaves no use for a name-keyed history or records either.
        try dropNameKeyedHistory()
        if let legacy = try nameKeyedRecords() { try write { writer in try writer.txn.drop(legacy) } }
        try write { writer in
            try writer.txn.put(schema.meta, key: Schema.MetaKey.viewSet, value: Array(currentSet.utf8))
            try writer.txn.put(schema.meta, key: Schema.MetaKey.foldRevision, value: withUnsafeBytes(of: Lifecycle.foldRevision.bigEndian) { Array($0) })
        }
    }

    /// The set of views and the fold revision the views were folded by, as recorded.
    private func viewRules() throws -> (set: String?, revision: UInt32) {
        try read { reader in
            (try reader.txn.get(schema.meta, key: Schema.MetaKey.viewSet).map { String(decoding: $0, as: UTF8.self) },
             try reader.txn.get(schema.meta, key: Schema.MetaKey.foldRevision).flatMap { $0.count == 4 ? UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) : nil } ?? 1)
        }
    }

    /// Whether the views were folded by other rules than this build's.
    func viewRulesChanged() throws -> Bool {
        let (set, revision) = try viewRules()
        return set != schema.viewSetDescription || revision != Lifecycle.foldRevision
    }

    /// Refuses to serve a log whose recent part fails its chain: the part after the newest usable
    /// snapshot, or after the last event a whole-log check (the scrub) verified, whichever is later.
    /// The older part is checked by the scrub and by `longrun-replay verify`. Returns how far the log
    /// is now known intact from its base, for the open to record once it writes: the next start then
    /// checks only what follows.
    private func checkRecentLog() throws -> (sequence: UInt64, hash: ChainHash)? {
        let head = try read { try $0.logHead() }
        guard head > 0 else {
            // An empty log is intact: recorded as checked, so that the engine's checks while it
            // runs (``advanceVerifiedLog()``) move on from its first event and a start after a
            // crash checks only what they had not, from the first run of a new store on (without
            // it, until a restart or the first scrub pass, such a start checked the whole log).
            return try read({ try $0.verifiedLog() }) == nil ? (0, .genesis) : nil
        }
        let afterSnapshot = try usableSnapshot(upTo: head, checkContents: false).map { $0.sequence + 1 }
        let afterVerified = try verifiedLogStart()
        let start = [afterSnapshot, afterVerified].compactMap { $0 }.max()
        // Read at random, ahead of the check: from a cold cache (a start after a machine stop) the
        // kernel's read-around would bring in the pages around each of the log's, mostly not the log's.
        let (report, problem) = try environment.readingAtRandom { try verifyLog(from: start, readingAhead: .whenCold) }
        if let problem {
            throw StoreError(.dataLoss, """
                the log of \(directory) is damaged at event \(problem.sequence ?? 0): \(problem.message). \
                Nothing was changed. See the extent with `longrun-replay verify --data-dir \(directory)`; \
                then restore the directory from a backup, or build a store from the log before the damage with \
                `longrun-replay rebuild --data-dir \(directory) --to NEW_DIR --until \((problem.sequence ?? 1) - 1)`
                """)
        }
        // Intact from the base only when checked from it, or from the last checkpoint (itself
        // intact from the base).
        return start == nil || start == afterVerified ? (report.headSequence, report.headHash) : nil
    }

    /// Where the start-up check may begin thanks to the scrub's checkpoint: after the verified event,
    /// if the log still holds it with the hash that was verified. A checkpoint the log no longer
    /// agrees with means the log changed since it was verified: DATA_LOSS.
    private func verifiedLogStart() throws -> UInt64? {
        try read { reader in
            guard let (sequence, hash) = try reader.verifiedLog() else { return nil }
            if sequence == 0 {
                // Recorded on the empty log of a new store: a start from its first event, while the
                // log still begins there (a compacted log is checked from its base).
                let tail = try reader.logTail() ?? 1
                return hash == .genesis && tail == 1 ? 1 : nil
            }
            guard let tail = try reader.logTail(), sequence >= tail,
                  sequence <= (try reader.logHead())
            else { return nil }
            guard try reader.chainHash(at: sequence) == hash else {
                throw StoreError(.dataLoss, """
                    event \(sequence) of \(directory) is not the one the scrub verified: the log was changed since. \
                    Nothing was changed. See the extent with `longrun-replay verify --data-dir \(directory)` and restore from a backup
                    """)
            }
            return sequence + 1
        }
    }

    /// Checks the log from the last checkpoint (``Schema/MetaKey/verifiedLog``) through the head,
    /// reading it back from disk, and moves the checkpoint to the head when the chain holds: so a
    /// restart checks only the events written since, whatever the snapshot cadence. Nil when no
    /// whole-log check has set a checkpoint yet (the scrub's first pass does); else the events
    /// checked and the first problem, if any (the checkpoint then stays where it was).
    public func advanceVerifiedLog() throws -> (checked: UInt64, problem: VerifyProblem?)? {
        guard let start = try verifiedLogStart() else { return nil }
        let (report, problem) = try verifyLog(from: start)
        if problem == nil, report.headSequence >= start {
            try recordVerifiedLog(through: report.headSequence, hash: report.headHash)
        }
        return (report.events, problem)
    }

    /// Records that a whole-log check found the chain intact through `sequence` (whose chain hash
    /// is `hash`), unless a later checkpoint is already recorded. Durable with the journal's next
    /// checkpoint, not before this returns: lost in a machine crash, it only makes the next start
    /// check more of the log, and the engine records it every second under load.
    public func recordVerifiedLog(through sequence: UInt64, hash: ChainHash) throws {
        try commitEventually { txn in
            let reader = StoreReader(txn: txn, schema: schema)
            if let (known, _) = try reader.verifiedLog(), known >= sequence { return }
            try txn.put(schema.meta, key: Schema.MetaKey.verifiedLog, value: Keys.sequence(sequence) + hash.bytes)
        }
    }

    /// Runs `body` with a consistent view of the store as of the last commit, which includes every
    /// batch answered before the read began (``VisibilityGate``).
    public func read<R>(_ body: (StoreReader) throws -> R) throws -> R {
        try visibility.pass()
        return try storage { try environment.read { txn in try body(StoreReader(txn: txn, schema: schema)) } }
    }

    /// Runs `body` in the write transaction: what it appends is folded and committed together with
    /// the applied sequence when it returns, and discarded if it throws. `body` may run again if the
    /// map had to grow, so it must derive everything it returns from the transaction.
    @discardableResult
    public func write<R>(_ body: (StoreWriter) throws -> R) throws -> R {
        try commitDurably { txn in try writeBatch(txn, body).result }
    }

    /// Runs `body` with a writer on `txn` and folds what it appended; with `journaling`, also returns
    /// the log entries it appended.
    func writeBatch<R>(_ txn: WriteTransaction, journaling: Bool = false, _ body: (StoreWriter) throws -> R) throws
        -> (result: R, entries: [(sequence: UInt64, entry: [UInt8])])
    {
        let writer = try StoreWriter(txn: txn, schema: schema, journaling: journaling)
        let result = try body(writer)
        try writer.finish()
        return (result, writer.journalEntries)
    }

    /// One LMDB write transaction, durable when this returns: flushed by LMDB, or with the journal
    /// on, followed by a checkpoint.
    func commitDurably<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        guard let journal = try journalSlot.forCommit() else { return try commit(body) }
        return try journal.commitOther(self, body)
    }

    /// One LMDB write transaction that may be lost in a machine crash without harm: with the
    /// journal on, committed unflushed and made durable by the next checkpoint (as the batches
    /// after it are), so it adds no flush of the data file; without it, as ``commit(_:)``.
    func commitEventually<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        guard let journal = try journalSlot.forCommit() else { return try commit(body) }
        return try journal.commitUnflushed(self, body)
    }

    /// One LMDB write transaction, flushed or not as the environment is set.
    func commit<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        try storage { try environment.write(body) }
    }

    /// Makes every commit so far durable (for `relaxed` durability).
    public func sync() throws {
        try storage { try environment.sync(force: true) }
    }
}

/// What an open writes once it has checked what it refuses (``Store/finishOpening(_:)``).
struct Opening: Sendable {
    var recovery: JournalRecovery
    /// How far the start-up check found the log intact, to record.
    var checkedLog: (sequence: UInt64, hash: ChainHash)?
    /// 0: no journal (LMDB flushes its own commits).
    var journalSize: Int
    var checkpointInterval: Duration
    var checkpointWriteBack: CheckpointWriteBack
    var checkpointWriteBackObserver: (@Sendable ([Range<Int>]?) -> Void)?
    var bootID: [UInt8]
    var chunk: Int
    /// ``Store/Configuration/openingFault``.
    var fault: StoreError?
}

extension Store {
    /// Writes what an open must, in this order. After a crash in this boot, the journal's first
    /// checkpoint comes first (or, without a journal, a flush and the old journal removed): nothing
    /// protects the pages of the old checkpoint's state any more, so a commit before the new one
    /// could overwrite them, and a power loss would then put back meta pages that point at them.
    /// Then the journal's entries LMDB had not committed (never acknowledged, or answered before a
    /// commit that failed: ``StoreJournal/commitBatch(_:answering:_:)``), as one journaled batch.
    /// After a machine stop the data file is the old checkpoint's state, whose pages LMDB's own free
    /// list protects, and every entry after it was acknowledged: they are committed first, flushed
    /// by LMDB, since the new session's checkpoint would make the old session's records unreadable.
    /// Then the views folded by this build's rules, and how far the log was checked.
    func finishOpening(_ opening: Opening) -> Result<Void, StoreError> {
        do {
            return .success(try writeOpening(opening))
        } catch let error as StoreError {
            return .failure(error)
        } catch {
            return .failure(StoreError(.storage, "the open could not write: \(error)"))
        }
    }

    private func writeOpening(_ opening: Opening) throws {
        if let fault = opening.fault { throw fault }
        let recovery = opening.recovery
        var checked = opening.checkedLog
        let head = try read { try $0.logHead() }
        if recovery.machineStopped {
            // From a cold cache, as the start-up check: the entries' operations lie anywhere in the file.
            try environment.readingAtRandom { try applyJournal(recovery) }
        }
        var journal: StoreJournal?
        if opening.journalSize > 0 {
            do {
                journal = try StoreJournal.start(on: self, size: opening.journalSize, checkpointInterval: opening.checkpointInterval,
                                                 writeBack: opening.checkpointWriteBack, writeBackObserver: opening.checkpointWriteBackObserver,
                                                 previous: recovery.checkpoint, bootID: opening.bootID)
            } catch let error as StoreError where error.kind == .resourceExhausted {
                logger.warning("no room for the journal: LMDB flushes each commit itself (two flushes instead of one) until a start finds room",
                               metadata: ["error": "\(error.message)"])
            }
        }
        if journal == nil, recovery.checkpoint != nil {
            // Flushed, the state the process left needs the old journal no more; kept, it would take
            // the data file back to its checkpoint after a machine crash. (Within one boot, its
            // entries LMDB had not committed are applied below from memory.)
            try sync()
            JournalFile.remove(in: directory)
        }
        journalSlot.claim(journal)
        if !recovery.machineStopped { try applyJournal(recovery) }
        if checked?.sequence == head {
            // Each of the journal's entries was checked against the chain as it was appended.
            checked = try read { (try $0.logHead(), try $0.headHash()) }
        }
        try rebuildViewsIfTheirRulesChanged(chunk: opening.chunk)
        try replayTail(chunk: opening.chunk)
        // After the tail is folded: the rule reads each tombstone's last event.
        try forgetTombstonesCompactedByOlderBuilds()
        if let checked {
            // Only a saving: a store too full to record it still opens (and serves reads).
            do { try recordVerifiedLog(through: checked.sequence, hash: checked.hash) } catch {
                logger.warning("could not record the checked log; the next start checks it again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Whether the open must write before it serves reads: views to fold or to fold again, tombstones
    /// to forget.
    func mustWriteBeforeServing() throws -> Bool {
        try viewRulesChanged() || read { try $0.appliedSequence() != $0.logHead() } || tombstonesToForget()
    }

    /// The journal's entries LMDB does not hold yet.
    private func missingEntries(_ recovery: JournalRecovery) throws -> [(sequence: UInt64, entry: [UInt8])] {
        let head = try read { try $0.logHead() }
        return recovery.entries.filter { $0.sequence > head }
    }

    /// Appends the journal's missing entries with `writer`, and folds them unless `fold` is false.
    func apply(_ missing: [(sequence: UInt64, entry: [UInt8])], with writer: StoreWriter, fold: Bool = true) throws {
        guard let first = missing.first?.sequence, let last = missing.last?.sequence else { return }
        for (sequence, entry) in missing { try writer.copyLogged(sequence: sequence, entry: entry) }
        let decoded = try writer.reader.decodeLogged(from: first, through: last)
        if fold { try writer.foldDecoded(decoded) }
    }

    /// Refuses, before anything is written, journal entries that would not apply: each must continue
    /// the log's chain and decode. Appended in a transaction that is then thrown away (within one
    /// boot, at most the batch or two LMDB had not committed).
    private func checkJournalEntries(_ recovery: JournalRecovery) throws {
        struct Discard: Error {}
        let missing = try missingEntries(recovery)
        guard !missing.isEmpty else { return }
        do {
            try commit { txn in
                try apply(missing, with: try StoreWriter(txn: txn, schema: schema), fold: false)
                throw Discard()
            }
        } catch is Discard {}
    }

    /// Copies into the log the journal's entries it does not hold yet and folds them: one batch,
    /// journaled as the engine's are when the journal is on. Folded by replay instead when the
    /// views are behind the log.
    func applyJournal(_ recovery: JournalRecovery) throws {
        let missing = try missingEntries(recovery)
        guard !missing.isEmpty else { return }
        logger.notice("applying the journal's commits", metadata: [
            "from": "\(missing.first!.sequence)", "through": "\(missing.last!.sequence)", "restored_meta_pages": "\(recovery.restoredMetas)",
        ])
        // Views behind the log, or of another layout or other rules (converted or folded again
        // later in the open): the entries are copied, and folded once the views are this build's.
        guard try read({ try $0.appliedSequence() == $0.logHead() }), try !viewRulesChanged() else { return try copyLogged(missing) }
        if let journal {
            try journal.commitBatch(self) { writer in try apply(missing, with: writer) }
        } else {
            try write { writer in try apply(missing, with: writer) }
        }
    }
}
