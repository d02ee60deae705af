import Crypto
import LMDB
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Snapshot files: a consistent copy of the operations' records at one sequence, so recovery and
/// rebuilds replay only the log after it and older log can be compacted. The other views are
/// derived when it is loaded: the indexes from each record, the history from the log (it is the
/// log's index, and about half of what a copy of every view would write). Snapshots of version 1
/// hold every view and still load. Format (docs/FORMAT.md, "Snapshots"):
///
///     "LRSNAP01" · u32 header length · SnapshotHeader
///     records: u8 view index · u32 key length · key · u32 value length · value
///     0xFF · u64 record count · SHA-256 of every byte before it
///
/// From version 4 on, everything between the header and the SHA-256 is one zlib stream (level 1):
/// a snapshot holds the same records in about a fifth of the bytes (BENCHMARKS.md).
///
/// A snapshot is full (`snapshot-<sequence>.lrsnap`) or differential
/// (`snapshot-<sequence>-on-<base>.lrsnap`, version 3 or later): the records, as of its sequence, of only the operations
/// that changed since its full base at `base` (an empty value: the record was removed), tied to
/// that base by the base's sequence and chain hash. A restore point is a full snapshot, or one
/// differential with its base (never a chain of differentials).
///
/// Written to a temporary file, fsynced, renamed into place, and the directory fsynced, so a crash
/// leaves either the whole snapshot or none.
public enum SnapshotFile {
    public struct Info: Sendable, Equatable {
        public var path: String
        public var sequence: UInt64
        public var sizeBytes: UInt64
        /// For a differential snapshot, the sequence of its full base (a file in the same
        /// directory); nil for a full one.
        public var baseSequence: UInt64? = nil

        public var isDifferential: Bool { baseSequence != nil }

        /// The path of a differential's base snapshot (next to it); nil for a full one.
        public var basePath: String? {
            baseSequence.map { parentDirectory(of: path) + "/" + SnapshotFile.fileName(sequence: $0, base: nil) }
        }
    }

    /// What to write: a full snapshot; or a differential on the newest full snapshot when fewer
    /// than half the records changed since it (``prefersDifferential(changed:records:)``), else a
    /// full one (what the engine and the tool do); or a differential whenever a base allows one,
    /// whatever its size (for tests).
    public enum Kind: Sendable, Equatable {
        case full, automatic, differential
    }

    public struct Header: Sendable, Equatable {
        /// 4: as 3, its records compressed (one zlib stream); 3: a differential, or full; 2: the
        /// `operations` records only, the other views derived at load; 1: every view.
        public var version: UInt32 = SnapshotFile.version
        public var sequence: UInt64
        /// Chain hash of the event at `sequence`: ties the snapshot to one history.
        public var chainHash: ChainHash
        public var createdUnixNanos: Int64
        public var records: UInt64 = 0
        /// The store format of the records: 1 before checksums (loading seals them), 2 with them.
        public var storeFormat: UInt32 = Schema.formatVersion
        /// The ``Lifecycle/foldRevision`` its states were folded by (1 in snapshots from before
        /// revisions were recorded).
        public var foldRevision: UInt32 = Lifecycle.foldRevision
        /// Of a differential (version 3): the sequence of its full base; 0 for a full snapshot.
        public var baseSequence: UInt64 = 0
        /// Of a differential: the chain hash of its base (the base's own header's), which ties it to
        /// that one file.
        public var baseChainHash: ChainHash? = nil

        public var isDifferential: Bool { baseSequence != 0 }
    }

    /// The newest version this build reads, and the one it writes: 4, whose records (full or
    /// differential, as in version 3) are one zlib stream. Versions 1 to 3 are still read, and
    /// written for the tests.
    public static let version: UInt32 = 4
    /// The first version that may be a differential.
    static let differentialVersion: UInt32 = 3
    /// The first version whose records are compressed.
    static let compressedVersion: UInt32 = 4
    static let magic = Array("LRSNAP01".utf8)
    static let endMarker: UInt8 = 0xFF
    static let prefix = "snapshot-"
    static let suffix = ".lrsnap"
    static let differentialMark = "-on-"

    /// `snapshot-<sequence>.lrsnap`, or for a differential `snapshot-<sequence>-on-<base>.lrsnap`
    /// (20 digits each): builds before differentials do not parse the latter's name, and so never
    /// list, load, check or prune a differential.
    static func fileName(sequence: UInt64, base: UInt64?) -> String {
        prefix + String(sequence).leftPadded(20) + (base.map { differentialMark + String($0).leftPadded(20) } ?? "") + suffix
    }

    /// The sequence and base a snapshot's file name gives; nil for any other name.
    static func parseName(_ name: String) -> (sequence: UInt64, base: UInt64?)? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        if let sequence = UInt64(middle) { return (sequence, nil) }
        guard let mark = middle.firstRange(of: differentialMark),
              let sequence = UInt64(middle[..<mark.lowerBound]), let base = UInt64(middle[mark.upperBound...]),
              base > 0, base < sequence
        else { return nil }
        return (sequence, base)
    }

    /// Snapshots in `directory`, newest first. A missing directory has none.
    public static func list(in directory: String) throws -> [Info] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [Info] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let (sequence, base) = parseName(name) else { continue }
            var info = stat()
            let path = directory + "/" + name
            guard stat(path, &info) == 0 else { continue }
            found.append(Info(path: path, sequence: sequence, sizeBytes: UInt64(info.st_size), baseSequence: base))
        }
        // Newest first; at one sequence, a full snapshot before a differential.
        return found.sorted { ($0.sequence, $0.isDifferential ? 0 : 1) > ($1.sequence, $1.isDifferential ? 0 : 1) }
    }

    /// Writes a snapshot of `store`'s records as of its last commit into `directory`, then prunes
    /// to the newest `keep` restore points (``prune(_:keep:)``). `kind` says whether it may be a
    /// differential. Returns the existing snapshot if one is already at that sequence (a full one,
    /// or for `.automatic` and `.differential` either kind).
    @discardableResult
    public static func write(_ store: Store, into directory: String, keep: Int, createdUnixNanos: Int64, kind: Kind = .full) throws -> Info {
        try write(store, into: directory, keep: keep, createdUnixNanos: createdUnixNanos, version: version, kind: kind)
    }

    /// ``write(_:into:keep:createdUnixNanos:kind:)`` in an older version, as older builds wrote
    /// them (the tests load such snapshots): 1 writes every view, 2 the records, 3 the records or
    /// a differential, neither compressed.
    static func write(_ store: Store, into directory: String, keep: Int, createdUnixNanos: Int64, version: UInt32, kind: Kind = .full) throws -> Info {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw StoreError(.storage, "cannot create the snapshot directory \(directory): \(String(cString: strerror(errno)))")
        }
        let info: Info = try store.read { reader in
            let sequence = try reader.appliedSequence()
            let existing = try list(in: directory).filter { $0.sequence == sequence }
            if let full = existing.first(where: { !$0.isDifferential }) { return full }
            if kind != .full, let differential = existing.first { return differential }
            var chainHash = ChainHash.genesis
            if sequence > 0 {
                guard let entry = try reader.txn.get(reader.schema.log, key: Keys.sequence(sequence)) else {
                    throw StoreError(.dataLoss, "the log has no event \(sequence) for the snapshot to anchor to")
                }
                chainHash = try LogEntry.open(entry, sequence: sequence).hash
            }
            var header = Header(version: version, sequence: sequence, chainHash: chainHash, createdUnixNanos: createdUnixNanos)
            var names: ChangedNames?
            let records = try reader.snapshotSource().records
            // `.automatic` stops counting names once a differential would not be preferred.
            if kind != .full, version >= 2,
               let plan = try differentialPlan(reader, directory: directory, sequence: sequence,
                                               atMost: kind == .automatic ? (records + 1) / 2 : nil) {
                if kind == .differential || prefersDifferential(changed: plan.names.count, records: records) {
                    header.version = max(version, differentialVersion)
                    header.baseSequence = plan.base.sequence
                    header.baseChainHash = plan.base.chainHash
                    header.records = UInt64(plan.names.count)
                    names = plan.names
                }
            }
            let finalPath = directory + "/" + fileName(sequence: sequence, base: header.isDifferential ? header.baseSequence : nil)
            let temporary = directory + "/.tmp-" + String(sequence) + "-" + String(getpid())
            let file = try OutputFile(path: temporary)
            do {
                file.write(magic)
                let encoded = encodeHeader(header)
                file.write(bigEndian: UInt32(encoded.count))
                file.write(encoded)
                if header.version >= compressedVersion { try file.compressFromHere() }
                var records: UInt64 = 0
                func entry(_ index: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
                    file.write([UInt8(index)])
                    file.write(bigEndian: UInt32(key.count))
                    file.write(key)
                    file.write(bigEndian: UInt32(value.count))
                    file.write(value)
                    records += 1
                }
                func copy(_ index: Int, _ database: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
                    // A damaged record is never copied into a snapshot, where it would outlive a repair.
                    _ = try Checksum.open(database, key: key, value: value)
                    entry(index, key: key, value: value)
                }
                /// A record found by its name, as a snapshot keeps it: under the name, its checksum
                /// over the name (a live record's in the store is over its create sequence).
                func copy(_ found: StoreReader.FoundRecord, name: UnsafeRawBufferPointer) throws {
                    guard reader.schema.liveRecords.contains(found.database) else {
                        try copy(operationsView, found.database, key: name, value: found.value)
                        return
                    }
                    let body = try Checksum.open(found.database, key: found.key, value: found.value)
                    Checksum.seal(key: name, body: body).withUnsafeBytes { entry(operationsView, key: name, value: $0) }
                }
                if let names {
                    // A differential: each changed name's record now, or an empty value if it has none.
                    // In key order, as a full snapshot's records are.
                    try names.forEach { name in
                        if let found = try reader.record(Array(name)) {
                            try copy(found, name: name)
                        } else {
                            entry(operationsView, key: name, value: UnsafeRawBufferPointer(start: nil, count: 0))
                        }
                    }
                } else {
                    // The records of live operations (by name, through `names`) and tombstones,
                    // merged into one run in name order.
                    let schema = reader.schema
                    try reader.txn.withCursor(schema.names) { live in
                        try reader.txn.withCursor(schema.tombstones) { dead in
                            var (nextLive, nextDead) = (try live.first(), try dead.first())
                            while nextLive != nil || nextDead != nil {
                                if let (name, entry) = nextLive, nextDead.map({ Keys.precedes(name, $0.key) }) ?? true {
                                    try copy(try reader.liveRecord(name: name, entry: entry), name: name)
                                    nextLive = try live.next()
                                } else if let (key, value) = nextDead {
                                    try copy(operationsView, schema.tombstones, key: key, value: value)
                                    nextDead = try dead.next()
                                }
                            }
                        }
                    }
                    if version == 1 {
                        for (index, database) in schema.views.enumerated() where index != operationsView && database != schema.tombstones {
                            try reader.txn.withCursor(database) { cursor in
                                var entry = try cursor.first()
                                while let (key, value) = entry {
                                    try copy(index, database, key: key, value: value)
                                    entry = try cursor.next()
                                }
                            }
                        }
                    }
                }
                file.write([endMarker])
                file.write(bigEndian: records)
                try file.finish()
            } catch {
                file.abandon()
                throw error
            }
            guard rename(temporary, finalPath) == 0 else {
                unlink(temporary)
                throw StoreError(.storage, "cannot rename the snapshot into \(finalPath): \(String(cString: strerror(errno)))")
            }
            syncDirectory(directory)
            var info = stat()
            stat(finalPath, &info)
            return Info(path: finalPath, sequence: sequence, sizeBytes: UInt64(info.st_size), baseSequence: header.isDifferential ? header.baseSequence : nil)
        }
        try prune(directory, keep: keep)
        return info
    }

    /// Whether a differential is worth writing: when fewer than half the records changed since the
    /// base. Past that, a full snapshot costs at most twice as much, and the next differentials
    /// start again from nothing.
    public static func prefersDifferential(changed: Int, records: Int) -> Bool {
        changed * 2 < records
    }

    /// Removes all but the newest `keep` restore points (each snapshot file counts as one, newest
    /// first) and the bases the kept differentials need: a base in use is never removed.
    public static func prune(_ directory: String, keep: Int) throws {
        let all = try list(in: directory)
        let kept = all.prefix(max(keep, 1))
        var keep = Set(kept.map(\.path))
        for snapshot in kept { if let base = snapshot.basePath { keep.insert(base) } }
        for old in all where !keep.contains(old.path) { unlink(old.path) }
    }

    /// Where a differential at `sequence` would start: its full base, and the names whose records
    /// changed since it (the names of the newest usable differential on that base, and of every
    /// event after that differential, or after the base). Nil when there is no base to write one on:
    /// no full snapshot of version 2 or later folded by this build's rules, or the log no longer
    /// reaches back to the newest snapshot on it, or more than `atMost` names changed (it stops
    /// reading there). Reads only that differential and the log after it.
    static func differentialPlan(_ reader: StoreReader, directory: String, sequence: UInt64, atMost limit: Int? = nil)
        throws -> (base: (sequence: UInt64, chainHash: ChainHash), names: ChangedNames)?
    {
        let snapshots = try list(in: directory).filter { $0.sequence <= sequence && $0.sequence > 0 }
        guard let base = snapshots.first(where: { !$0.isDifferential }), base.sequence < sequence,
              let baseHeader = try? readHeader(base.path), baseHeader.version >= 2, baseHeader.storeFormat >= 2, !baseHeader.isDifferential,
              baseHeader.sequence == base.sequence, baseHeader.foldRevision == Lifecycle.foldRevision
        else { return nil }
        var names = ChangedNames()
        var from: UInt64?
        for differential in snapshots where differential.baseSequence == base.sequence && differential.sequence < sequence {
            guard let header = try? readHeader(differential.path), header.baseChainHash == baseHeader.chainHash,
                  header.sequence == differential.sequence, try reader.chainHash(at: header.sequence) == header.chainHash,
                  let held = try? entryNames(differential.path)
            else { continue }
            names = held
            from = header.sequence
            break
        }
        if from == nil {
            guard try reader.chainHash(at: base.sequence) == baseHeader.chainHash else { return nil }
            from = base.sequence
        }
        guard let from else { return nil }
        let limit = limit ?? .max
        guard names.count <= limit else { return nil }
        let complete = try reader.txn.withCursor(reader.schema.log) { cursor -> Bool in
            var entry = try cursor.seek(atLeast: Keys.sequence(from + 1))
            while let (key, value) = entry, let next = Keys.decodeSequence(key), next <= sequence {
                var name = try reader.decodeEvent(value, sequence: next).name.description
                name.withUTF8 { _ = names.insert(UnsafeRawBufferPointer($0)) }
                if names.count > limit { return false }
                entry = try cursor.next()
            }
            return true
        }
        guard complete else { return nil }
        return ((base.sequence, baseHeader.chainHash), names)
    }

    /// The names a differential holds an entry for; verifies it.
    static func entryNames(_ path: String) throws -> ChangedNames {
        let names = ChangedNames()
        _ = try read(path) { index, key, _ in
            guard Int(index) == operationsView else { throw StoreError(.dataLoss, "snapshot \(path) names view \(index); a differential holds records only") }
            names.insert(key)
        }
        return names
    }

    /// Checks a snapshot's structure and its SHA-256 trailer; returns its header.
    public static func verify(_ path: String) throws -> Header {
        try read(path) { _, _, _ in }
    }

    /// Checks a restore point: the snapshot (its contents with `contents`, else its header), that
    /// its name and header agree, and for a differential its base: present, a full snapshot
    /// (contents checked with `baseContents`, else its header), at the sequence and with the chain
    /// hash the differential names, folded by the same rules. Returns both headers; a DATA_LOSS
    /// ``StoreError`` saying which file is wrong and why otherwise.
    public static func verifyRestorePoint(_ info: Info, contents: Bool = true, baseContents: Bool = true) throws -> (header: Header, base: Header?) {
        let header = try contents ? verify(info.path) : readHeader(info.path)
        guard header.baseSequence == (info.baseSequence ?? 0) else {
            throw StoreError(.dataLoss, header.isDifferential
                ? "snapshot \(info.path) is a differential on the snapshot at \(header.baseSequence) but is named as a full one"
                : "snapshot \(info.path) is named as a differential on \(info.baseSequence ?? 0) but holds \(header.baseSequence == 0 ? "a full snapshot" : "one on \(header.baseSequence)")")
        }
        guard let basePath = info.basePath else { return (header, nil) }
        func unusable(_ why: String) -> StoreError {
            StoreError(.dataLoss, "differential snapshot \(info.path) cannot be restored: its base \(basePath) \(why); the log or another snapshot can replace it")
        }
        var exists = stat()
        guard stat(basePath, &exists) == 0 else { throw unusable("is missing") }
        let base: Header
        do { base = try baseContents ? verify(basePath) : readHeader(basePath) } catch {
            throw unusable("is damaged (\(error))")
        }
        guard !base.isDifferential, base.version >= 2, base.storeFormat >= 2 else {
            throw unusable("is not a full snapshot of sealed records (version \(base.version), store format \(base.storeFormat))")
        }
        guard base.sequence == header.baseSequence, base.chainHash == header.baseChainHash else {
            throw unusable("is not the one it was written on (its chain hash at \(base.sequence) differs)")
        }
        guard base.foldRevision == header.foldRevision else { throw unusable("was folded by other rules (revision \(base.foldRevision))") }
        return (header, base)
    }

    /// A differential's tie to its base, for a pass that has already checked every snapshot's
    /// contents and collected the paths of the damaged ones in `damaged`: its base present, the one
    /// it names (headers only), and not among the damaged. Throws DATA_LOSS saying why.
    public static func checkBase(of differential: Info, damaged: Set<String>) throws {
        _ = try verifyRestorePoint(differential, contents: false, baseContents: false)
        if let base = differential.basePath, damaged.contains(base) {
            throw StoreError(.dataLoss, "differential snapshot \(differential.path) cannot be restored: its base \(base) is damaged; the log or another snapshot can replace it")
        }
    }

    /// Reads only the header: cheap, for choosing a snapshot. Its contents are verified when it is
    /// loaded (``load(_:into:logStart:)`` verifies first) and by `verify`. Of a differential,
    /// `records` is the number of entries its header declares (`verify` counts them).
    public static func readHeader(_ path: String) throws -> Header {
        let file = try InputFile(path: path)
        func fail(_ why: String) -> StoreError { StoreError(.dataLoss, "snapshot \(path) is damaged: \(why)") }
        guard try file.read(8) == magic else { throw fail("it does not start with LRSNAP01") }
        let headerLength = try file.readUInt32()
        guard headerLength < 1 << 20 else { throw fail("its header is \(headerLength) bytes") }
        guard let header = try decodeHeader(try file.read(Int(headerLength))) else { throw fail("its header cannot be decoded") }
        return header
    }

    /// Loads a verified restore point into a store whose views are empty, and records its
    /// sequence as applied: a full snapshot (``load(_:into:logStart:)``), or a differential and its
    /// base: the differential's entries, then the base's records but those the differential
    /// replaces or removes, then the differential's records, each with the index entries it implies
    /// (exactly what a full snapshot at the differential's sequence loads), and the history of the
    /// log from `logStart` through the differential.
    static func load(_ snapshot: Info, into writer: StoreWriter, logStart: UInt64, repairedLater: Set<OperationName>) throws {
        guard let basePath = snapshot.basePath else {
            return try load(snapshot.path, into: writer, logStart: logStart, repairedLater: repairedLater)
        }
        // Both files checked first, so that a damaged one never leaves half its records behind.
        let (header, base) = try verifyRestorePoint(snapshot)
        var changed: [[UInt8]: [UInt8]] = [:]
        _ = try read(snapshot.path) { index, key, value in
            guard Int(index) == operationsView else { throw StoreError(.dataLoss, "snapshot \(snapshot.path) names view \(index); a differential holds records only") }
            changed[key] = value
        }
        _ = try read(basePath) { index, key, value in
            guard Int(index) == operationsView else { throw StoreError(.dataLoss, "snapshot \(basePath) names view \(index), which a snapshot of version \(base?.version ?? 0) does not hold") }
            guard changed[key] == nil else { return }
            try loadRecord(key: key, value: value, into: writer, path: basePath)
        }
        for (key, value) in changed where !value.isEmpty {
            try loadRecord(key: key, value: value, into: writer, path: snapshot.path)
        }
        try writer.putHistory(from: logStart, through: header.sequence)
        try forgetCompacted(before: logStart, except: repairedLater, writer)
        try writer.setAppliedSequence(header.sequence)
    }

    /// After loading: forgets the tombstones whose every event is before `logStart` (compacted
    /// since the snapshot was taken), as compacting the live store forgot them
    /// (``Lifecycle/isForgotten(_:compactedThrough:)``), so a rebuild gives the same views. Those
    /// in `repairedLater` (repaired in the log after the snapshot: their last event is after
    /// `logStart`, so compaction kept them) stay.
    private static func forgetCompacted(before logStart: UInt64, except repairedLater: Set<OperationName>, _ writer: StoreWriter) throws {
        guard logStart > 1 else { return }
        _ = try writer.forgetTombstones(compactedThrough: logStart - 1, except: repairedLater)
    }

    /// One record of a snapshot (keyed and sealed by its name): checked, decoded, stored where its
    /// state keeps it (``Schema/recordDatabase(_:)``: under its create sequence while listed, its
    /// name in `tombstones`), with its index entries (`names` among them).
    private static func loadRecord(key: [UInt8], value: [UInt8], into writer: StoreWriter, path: String) throws {
        let (state, body) = try value.withUnsafeBytes { value in
            let body = try key.withUnsafeBytes { try Checksum.open(named: "operations", key: $0, value: value) }
            do { return (try RecordCodec.decodeState(body, strings: nil), Array(body)) } catch {
                throw StoreError(.dataLoss, "snapshot \(path) holds a record that cannot be decoded (\(error)); delete the snapshot, the log can replace it")
            }
        }
        guard state.name.description.utf8.elementsEqual(key) else {
            throw StoreError(.dataLoss, "snapshot \(path) holds the record of \(state.name) under another name; delete the snapshot, the log can replace it")
        }
        let facts = IndexFacts(state)
        if facts.listed {
            try writer.putSealed(writer.schema.recordDatabase(facts), key: Schema.recordKey(of: state, listed: true), body: body)
        } else {
            try writer.txn.put(writer.schema.tombstones, key: key, value: value)
        }
        try writer.putIndexes(of: state)
    }

    /// Loads a verified full snapshot into a store whose views are empty, and records its sequence as
    /// applied: its records, with the index entries each implies (a version-1 snapshot's other
    /// views are those entries by the layout of its day, and history keyed by name). Then the
    /// history of the store's own log from `logStart` through the snapshot is written from the log
    /// (a rebuild copying the log later adds the history of what it copies): entries of events
    /// before `logStart` are left out, since those events were compacted out of the log after the
    /// snapshot was taken.
    static func load(_ path: String, into writer: StoreWriter, logStart: UInt64, repairedLater: Set<OperationName>) throws {
        // Verify first, so that a damaged file never leaves half its records behind.
        let verified = try verify(path)
        guard !verified.isDifferential else {
            throw StoreError(.dataLoss, "snapshot \(path) is a differential on the snapshot at \(verified.baseSequence) and cannot be loaded alone")
        }
        let views = writer.schema.views
        let recordsOnly = verified.version >= 2
        let header = try read(path) { index, key, value in
            guard Int(index) < views.count, !recordsOnly || Int(index) == operationsView else {
                throw StoreError(.dataLoss, "snapshot \(path) names view \(index), which this build does not have in a snapshot of version \(verified.version)")
            }
            if recordsOnly {
                try loadRecord(key: key, value: value, into: writer, path: path)
                return
            }
            if Int(index) == operationsView {
                // Tombstones included, as every snapshot holds them: each goes where its state
                // keeps it, with the index entries it implies. The other views a version-1 snapshot
                // holds are those entries (but `names`, which did not exist) and history keyed by
                // name: not read.
                let sealed = verified.storeFormat == 1 ? Checksum.seal(key: key, body: value) : value
                try loadRecord(key: key, value: sealed, into: writer, path: path)
            }
        }
        try writer.putHistory(from: logStart, through: header.sequence)
        try forgetCompacted(before: logStart, except: repairedLater, writer)
        try writer.setAppliedSequence(header.sequence)
    }

    /// The view index of the `operations` records in a snapshot (the first of ``Schema/views``).
    static let operationsView = 0

    /// The `operations` records (view 0) stored under `keys` in the restore point `snapshot`,
    /// without their checksums; verifies it first. Of a differential, a name it holds comes from it
    /// (an empty entry: the operation had no record, and is absent from the answer), any other from
    /// its base.
    static func operationRecords(_ snapshot: Info, names keys: Set<[UInt8]>) throws -> [[UInt8]: [UInt8]] {
        guard let basePath = snapshot.basePath else { return try operationRecords(snapshot.path, names: keys) }
        _ = try verifyRestorePoint(snapshot)
        var found: [[UInt8]: [UInt8]] = [:]
        var answered: Set<[UInt8]> = []
        _ = try read(snapshot.path) { index, key, value in
            guard Int(index) == operationsView, keys.contains(key) else { return }
            answered.insert(key)
            guard !value.isEmpty else { return }
            found[key] = try key.withUnsafeBytes { key in
                try value.withUnsafeBytes { Array(try Checksum.open(named: "operations", key: key, value: $0)) }
            }
        }
        let rest = keys.subtracting(answered)
        if !rest.isEmpty {
            for (key, value) in try operationRecords(basePath, names: rest) { found[key] = value }
        }
        return found
    }

    /// ``operationRecords(_:names:)-(Info,_)`` of one full snapshot file.
    /// The `operations` records (view 0) stored under `keys` in the full snapshot at `path`, without
    /// their checksums; verifies the snapshot first.
    static func operationRecords(_ path: String, names keys: Set<[UInt8]>) throws -> [[UInt8]: [UInt8]] {
        let header = try verify(path)
        var found: [[UInt8]: [UInt8]] = [:]
        _ = try read(path) { index, key, value in
            guard Int(index) == operationsView, keys.contains(key) else { return }
            if header.storeFormat == 1 {
                found[key] = value
            } else {
                found[key] = try key.withUnsafeBytes { key in
                    try value.withUnsafeBytes { Array(try Checksum.open(named: "operations", key: key, value: $0)) }
                }
            }
        }
        return found
    }

    /// Reads every record of the snapshot at `path`, verifying the trailer hash at the end.
    private static func read(_ path: String, record: (UInt8, [UInt8], [UInt8]) throws -> Void) throws -> Header {
        let file = try InputFile(path: path)
        func fail(_ why: String) -> StoreError { StoreError(.dataLoss, "snapshot \(path) is damaged: \(why); delete it, a newer or older one or the log can replace it") }
        guard try file.read(8) == magic else { throw fail("it does not start with LRSNAP01") }
        let headerLength = try file.readUInt32()
        guard headerLength < 1 << 20 else { throw fail("its header is \(headerLength) bytes") }
        guard var header = try decodeHeader(try file.read(Int(headerLength))) else { throw fail("its header cannot be decoded") }
        if header.version >= compressedVersion { try file.inflateFromHere() }
        var count: UInt64 = 0
        while true {
            let index = try file.read(1)[0]
            if index == endMarker { break }
            let key = try file.read(Int(try file.readUInt32()))
            let value = try file.read(Int(try file.readUInt32()))
            try record(index, key, value)
            count += 1
        }
        let expectedCount = try file.readUInt64()
        guard try file.trailerMatches() else { throw fail("its SHA-256 does not match its contents") }
        guard file.atEnd else { throw fail("it has bytes after its checksum") }
        guard expectedCount == count else { throw fail("it holds \(count) records but says \(expectedCount)") }
        header.records = count
        return header
    }

    private static func encodeHeader(_ header: Header) -> [UInt8] {
        var writer = WireWriter()
        writer.uint(1, UInt64(header.version))
        writer.uint(2, header.sequence)
        writer.bytes(3, header.chainHash.bytes)
        writer.sint(4, header.createdUnixNanos)
        writer.uint(5, UInt64(Schema.formatVersion))
        writer.uint(6, UInt64(Lifecycle.foldRevision))
        if header.isDifferential, let baseHash = header.baseChainHash {
            writer.uint(7, header.baseSequence)
            writer.bytes(8, baseHash.bytes)
            writer.uint(9, header.records)
        }
        return writer.bytes
    }

    private static func decodeHeader(_ bytes: [UInt8]) throws -> Header? {
        try bytes.withUnsafeBytes { buffer in
            var reader = WireReader(buffer)
            var version: UInt64 = 0, storeFormat: UInt64 = 0, sequence: UInt64 = 0, foldRevision: UInt64 = 1
            var baseSequence: UInt64 = 0, entries: UInt64 = 0
            var hash: [UInt8] = [], baseHash: [UInt8]?
            var created: Int64 = 0
            while let (field, type) = try reader.nextField() {
                switch field {
                case 1: version = try reader.uint()
                case 2: sequence = try reader.uint()
                case 3: hash = try reader.bytes()
                case 4: created = try reader.sint()
                case 5: storeFormat = try reader.uint()
                case 6: foldRevision = try reader.uint()
                case 7: baseSequence = try reader.uint()
                case 8: baseHash = try reader.bytes()
                case 9: entries = try reader.uint()
                default: try reader.skip(type)
                }
            }
            guard (1...UInt64(Self.version)).contains(version), (1...UInt64(Schema.formatVersion)).contains(storeFormat), hash.count == ChainHash.byteCount,
                  let foldRevision = UInt32(exactly: foldRevision)
            else { return nil }
            // A base only in version 3, and then a whole one, before the snapshot's own sequence.
            if baseSequence != 0 || baseHash != nil {
                guard version >= 3, baseSequence > 0, baseSequence < sequence, baseHash?.count == ChainHash.byteCount else { return nil }
            }
            return Header(version: UInt32(version), sequence: sequence, chainHash: ChainHash(bytes: hash), createdUnixNanos: created,
                          records: baseSequence == 0 ? 0 : entries, storeFormat: UInt32(storeFormat), foldRevision: foldRevision,
                          baseSequence: baseSequence, baseChainHash: baseHash.map { ChainHash(bytes: $0) })
        }
    }

}
