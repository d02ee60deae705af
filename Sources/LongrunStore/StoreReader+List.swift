import LMDB
public import LongrunDomain

extension StoreReader {
    /// Lists a collection from the creation index, or from the index of running operations when
    /// the filter excludes done ones. Keyset paging on the immutable create sequence means no
    /// operation is skipped or repeated across pages while others change.
    ///
    /// Several collections (a wildcard) are read in creation order across them, which create
    /// sequences (global) give, one of two ways: merged from each matching collection's place in
    /// the index (``merge(_:index:parents:after:page:strings:)``), which costs a seek per
    /// collection under the set's fixed part, or by a scan of the records in creation order
    /// (``scan(_:after:limit:page:count:strings:)``), which costs every record it passes, theirs
    /// or not, but less a record than the merge where most records are candidates. A page does
    /// not know which is cheaper: it scans a few records, then takes turns, walking a few more
    /// collections, then scanning a few more records, each turn twice the last, and merges once
    /// the walk has found every collection, unless at least half the records scanned were
    /// candidates. So a page over a few collections that hold few of the records merges almost at
    /// once; one over collections, few or thousands, that hold most records is read by the scan;
    /// one over hundreds that hold few records costs the merge and the records scanned meanwhile,
    /// at most about as much again. Both read the same candidates in the same order, so where the
    /// scan hands over to the merge changes nothing in the page.
    public func list(_ query: ListQuery) throws -> ListPage {
        let index = query.usesRunningIndex ? schema.running : schema.byCreation
        let strings = RecordStrings()
        if let collection = query.collections.single {
            return try listOne(query, index: index, prefix: Keys.collectionPrefix(collection), strings: strings)
        }
        var page = ListPageBuilder(query, candidatesInCollections: true)
        var walk = ParentWalk()
        var after = query.afterCreateSequence
        var (steps, records) = (Self.firstWalk, Self.firstWalk * Self.recordsPerStep)
        var scanned = ScanCount()
        // A first look at the records tells how many of them are candidates.
        var turn = try scan(query, after: &after, limit: records, page: &page, count: &scanned, strings: strings)
        while true {
            switch turn {
            case .page(let done): return done
            case .limitReached: break
            case .unreadable:
                try walkParents(in: index, matching: query.collections, walk: &walk, steps: .max)
                return try merge(query, index: index, parents: walk.parents, after: after, page: &page, strings: strings)
            }
            // The walk waits while the scan, at the rate it has found candidates so far, is
            // expected to complete the page within this turn's records and the next's.
            if !walk.isComplete, !scanned.expectsToComplete(query.pageSize, within: records * 3) {
                try walkParents(in: index, matching: query.collections, walk: &walk, steps: steps)
            }
            // With every collection found, the merge goes on unless most records are candidates,
            // where the scan reads little more than the page and the merge pays per record.
            if walk.isComplete, !scanned.isDense {
                return try merge(query, index: index, parents: walk.parents, after: after, page: &page, strings: strings)
            }
            turn = try scan(query, after: &after, limit: records, page: &page, count: &scanned, strings: strings)
            (steps, records) = (steps * 2, records * 2)
        }
    }

    /// How many collections a wildcard page walks before it first scans records instead.
    private static let firstWalk = 16
    /// How many records a wildcard page scans in its turn for each collection its walk takes in
    /// its turn: one, so that a page whose collections hold few records scans less before its walk
    /// is done than the walk costs (at 1M operations a seek costs ~0.55 µs, a record passed
    /// ~0.3 µs; `store-figures --list-names sparse500`: 1.2× the merge alone, 1.5–1.7× at two
    /// records a collection), while one whose collections hold most records completes in a few
    /// turns.
    private static let recordsPerStep = 1

    /// The size of a record passed that counts as one more towards a scan's turn (a 1 MiB record
    /// counts as 257).
    private static let bytesPerRecord = 4096

    /// What a wildcard page's scan has read so far.
    private struct ScanCount {
        var records = 0
        /// Records of the wildcard's collections that a merge would read too.
        var candidates = 0

        /// Whether a page of `pageSize` is expected to be complete within `more` records (one
        /// more match than the page holds tells that another page follows).
        func expectsToComplete(_ pageSize: Int, within more: Int) -> Bool {
            candidates > 0 && (pageSize + 1 - candidates) * records <= more * candidates
        }

        /// Whether at least half the records read were candidates: a scan then costs a page
        /// little more than its records, less than a merge of its collections (at 1M operations
        /// over 8 collections, half of them done, while done records were scanned too: ~92 µs a
        /// page against ~110; BENCHMARKS.md).
        var isDense: Bool { candidates * 2 >= records }
    }

    private enum ScanEnd {
        /// The page is complete.
        case page(ListPage)
        /// The scan read as many records as it was allowed.
        case limitReached
        /// A record fails its checksum or cannot be decoded, so the scan cannot tell whether it is
        /// a candidate: the merge goes on from it, reading only the wildcard's candidates, and
        /// names the damage if it is one of them (damage elsewhere fails no page).
        case unreadable
    }

    /// Reads the records after `after` in creation order, up to `limit` of them (each
    /// ``bytesPerRecord`` of a large one counting as one more), adding those of the query's
    /// collections (not done, when the page reads the running index: the candidates a merge
    /// reads) to `page`. `after` becomes the last record read.
    private func scan(_ query: ListQuery, after: inout UInt64, limit: Int, page: inout ListPageBuilder,
                      count: inout ScanCount, strings: RecordStrings) throws -> ScanEnd {
        guard after < UInt64.max else { return .page(page.end()) }
        return try withLiveRecords(runningOnly: query.usesRunningIndex) { cursors in
            var records = try RecordScan(cursors, after: after)
            var entry = try records.next()
            var read = 0
            while let (key, value) = entry {
                guard read < limit else { return .limitReached }
                // A large record counts as many: its checksum reads all of it, from disk if it is
                // not in memory, where a seek of the walk reads a page or two.
                read += 1 + value.count / Self.bytesPerRecord
                count.records += 1
                guard let sequence = Keys.decodeSequence(key), let body = Checksum.body(key: key, value: value),
                      let head = try? RecordCodec.stateHead(body), let parent = OperationName.parent(ofStored: head.name)
                else { return .unreadable }
                // A done one is no candidate of the running index's: not decoded.
                if !(query.usesRunningIndex && head.done), query.collections.matches(parent: parent) {
                    if let short = page.budgetExhausted() { return .page(short) }
                    guard let state = try? RecordCodec.decodeState(body, strings: strings, nameAsStored: true) else { return .unreadable }
                    if !(query.usesRunningIndex && state.done) {
                        count.candidates += 1
                        if let full = page.add(state, sequence: sequence, size: body.count) { return .page(full) }
                    }
                }
                after = sequence
                entry = try records.next()
            }
            return .page(page.end())
        }
    }

    /// Merges the collections `parents` (a wildcard's, all of them) after `after`: each is read
    /// from its own place in `index` (ordered by parent first), and the smallest create sequence
    /// goes next. One position resumes every collection.
    private func merge(_ query: ListQuery, index: Database, parents: [[UInt8]], after: UInt64,
                       page: inout ListPageBuilder, strings: RecordStrings) throws -> ListPage {
        // Each collection's entries start with its parent and 0x00 (Keys.collectionPrefix).
        let prefixes = parents.map { $0 + [0] }
        return try txn.withCursor(index) { cursor in try txn.withCursors(index) { own in try withPageRecords(query) { records in
            var heads = MergeHeads()
            for (slot, prefix) in prefixes.enumerated() {
                if let sequence = try firstSequence(&cursor, prefix: prefix, after: after) {
                    heads.push(sequence: sequence, slot: slot)
                }
            }
            // A collection whose entries the page reads gets a cursor of its own on the index,
            // from its second entry on (up to `ownCursorLimit` of them): that cursor stays on the
            // collection's last entry, so its next one is a step away rather than a seek from the
            // root, as it is with the shared `cursor` the collections take in turn.
            var ownCursor = [Int?](repeating: nil, count: prefixes.count)
            // Merged, the page's records are in creation order: the records cursors step to each.
            // Each record's index key, built again in one buffer rather than in two new arrays.
            var key: [UInt8] = []
            key.reserveCapacity((prefixes.map(\.count).max() ?? 0) + 8)
            while let (sequence, slot) = heads.pop() {
                if let short = page.budgetExhausted() { return short }
                key.removeAll(keepingCapacity: true)
                key += prefixes[slot]
                withUnsafeBytes(of: sequence.bigEndian) { key += $0 }
                let (state, size) = try key.withUnsafeBytes { key in
                    try listedState(index: index, key: key, found: records.find(recordOf: key), strings: strings)
                }
                if let full = page.add(state, sequence: sequence, size: size) { return full }
                let next: UInt64?
                if let mine = ownCursor[slot] {
                    next = try nextSequence(&own[mine], prefix: prefixes[slot])
                } else if own.count < Self.ownCursorLimit {
                    let mine = try own.open()
                    ownCursor[slot] = mine
                    next = try firstSequence(&own[mine], prefix: prefixes[slot], after: sequence)
                } else {
                    next = try firstSequence(&cursor, prefix: prefixes[slot], after: sequence)
                }
                if let next { heads.push(sequence: next, slot: slot) }
            }
            return page.end()
        } } }
    }

    /// How many of a merged page's collections get an index cursor of their own: enough for a page
    /// of 100 to read every collection it meets so; each is an LMDB cursor (a few hundred bytes).
    private static let ownCursorLimit = 128

    private func listOne(_ query: ListQuery, index: Database, prefix: [UInt8], strings: RecordStrings) throws -> ListPage {
        try txn.withCursor(index) { cursor in try withPageRecords(query) { records in
            var page = ListPageBuilder(query, candidatesInCollections: true)
            let isCandidate = { (key: UnsafeRawBufferPointer) in Keys.hasPrefix(key, prefix) && key.count == prefix.count + 8 }
            var entry = try cursor.seek(atLeast: prefix + Keys.sequence(query.afterCreateSequence &+ 1))
            var ahead = entry.flatMap { isCandidate($0.key) ? records.find(recordOf: $0.key) : nil }
            while let (key, _) = entry, isCandidate(key) {
                if let short = page.budgetExhausted() { return short }
                if let full = page.fullBeforeReading() { return full }
                let sequence = Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) ?? 0
                // Find the next candidate's record before decoding this one: its page comes into
                // the caches while this record decodes.
                let found = ahead
                entry = try cursor.next()
                ahead = entry.flatMap { isCandidate($0.key) ? records.find(recordOf: $0.key) : nil }
                let (state, size) = try listedState(index: index, key: key, found: found, strings: strings)
                if let full = page.add(state, sequence: sequence, size: size) { return full }
            }
            return page.end()
        } }
    }

    /// The operation a list index entry stands for, and its stored size. The entry's key ends with
    /// the create sequence its record is under in ``Schema/operations`` or
    /// ``Schema/doneOperations``; the record must be of an operation of the entry's collection.
    /// `strings` is the page's: its records share their type URLs and actors. `found`: the entry's
    /// record, when ``PageRecords/find(recordOf:)`` found it; else it is looked up here, and what
    /// went wrong is said.
    private func listedState(index: Database, key: UnsafeRawBufferPointer, found: UnsafeRawBufferPointer?,
                             strings: RecordStrings) throws -> (OperationState, Int) {
        let recordKey = UnsafeRawBufferPointer(rebasing: key[(key.count - 8)...])
        guard let stored = try found ?? liveRecord(under: Array(recordKey))?.value else {
            throw StoreError(.dataLoss, "the list index \(index.name) has an entry for create sequence \(Keys.decodeSequence(recordKey) ?? 0), which has no record")
        }
        guard let stateBytes = Checksum.body(key: recordKey, value: stored) else { throw try damaged(index: index, key: key) }
        let state = try decodeState(stateBytes, key: "create sequence \(Keys.decodeSequence(recordKey) ?? 0)", strings: strings)
        guard Keys.isCreation(key, in: state.name.collection) else {
            throw StoreError(.dataLoss, "the list index \(index.name) has an entry for create sequence \(Keys.decodeSequence(recordKey) ?? 0) in another collection than its record's, \(state.name)")
        }
        return (state, stateBytes.count)
    }

    /// The error for the damaged record of the list index entry `key` (whose last 8 bytes are its
    /// create sequence): named by the entry's value and by the database the record is in, which
    /// only an error reads. Apart from ``listedState(index:key:found:strings:)``, which every
    /// record of a page passes through: inlined there, it cost W3 at 1M about 1 µs a page.
    @inline(never)
    private func damaged(index: Database, key: UnsafeRawBufferPointer) throws -> StoreError {
        let recordKey = Array(key[(key.count - 8)...])
        let named = (try? checkedGet(index, key: Array(key))).flatMap { $0 }.flatMap { try? OperationName(parsing: String(decoding: $0, as: UTF8.self)) }
        let database = try liveRecord(under: recordKey)?.database ?? schema.operations
        return StoreError.damaged(DamagedRecord(database: database.name, key: recordKey, operation: named))
    }

    /// Runs `body` with the cursors `query`'s page reads records through (``PageRecords``).
    private func withPageRecords<R>(_ query: ListQuery, _ body: (inout PageRecords) throws -> R) throws -> R {
        try withLiveRecords(runningOnly: query.usesRunningIndex) { cursors in
            var records = PageRecords(running: cursors[0], done: cursors.dropFirst().first)
            return try body(&records)
        }
    }

    /// Runs `body` with a cursor on each database of live records (``Schema/liveRecords``), or on
    /// ``Schema/operations`` alone when `runningOnly` (a page of the running index, whose records
    /// are all there).
    private func withLiveRecords<R>(runningOnly: Bool, _ body: ([Cursor]) throws -> R) throws -> R {
        try txn.withCursor(schema.operations) { running in
            if runningOnly { return try body([running]) }
            return try txn.withCursor(schema.doneOperations) { done in try body([running, done]) }
        }
    }

    /// The create sequence of the entry after `cursor`'s, if it is of the collection `prefix`.
    private func nextSequence(_ cursor: inout Cursor, prefix: [UInt8]) throws -> UInt64? {
        guard let (key, _) = try cursor.next(), Keys.hasPrefix(key, prefix), key.count == prefix.count + 8 else { return nil }
        return Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...]))
    }

    /// The create sequence of the first entry of the collection `prefix` after `after`, if any.
    private func firstSequence(_ cursor: inout Cursor, prefix: [UInt8], after: UInt64) throws -> UInt64? {
        guard after < UInt64.max, let (key, _) = try cursor.seek(atLeast: prefix + Keys.sequence(after + 1)),
              Keys.hasPrefix(key, prefix), key.count == prefix.count + 8
        else { return nil }
        return Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...]))
    }

    /// Up to `limit` of the collections of `set` with live operations, in the order of their
    /// parents' bytes (the root first), after the one whose parent is `after` (from the first when
    /// nil): one seek per collection walked (to its first entry, then past its last), never a read
    /// of its operations, and none past the page's last.
    public func collections(matching set: CollectionSet, after: String? = nil, limit: Int = .max) throws -> [CollectionName] {
        try collections(in: schema.byCreation, matching: set, after: after, limit: limit)
    }

    func collections(in index: Database, matching set: CollectionSet, after: String? = nil, limit: Int = .max) throws -> [CollectionName] {
        var walk = ParentWalk()
        // Parents never contain 0x00, so `after · 0x01` is past every entry of that parent, and
        // before those of any parent it is a prefix of. (`after`, a parent of the set's, starts
        // with the set's fixed part, where the walk stops.)
        walk.resume = after.map { Array($0.utf8) + [1] }
        try walkParents(in: index, matching: set, walk: &walk, steps: .max, untilMatched: limit)
        return try walk.parents.map { parent in
            let text = String(decoding: parent, as: UTF8.self)
            do {
                return try CollectionName(parent: text)
            } catch {
                // The store wrote only valid names: this is damage, not the caller's mistake.
                throw StoreError(.dataLoss, "the list index \(index.name) has entries under an invalid parent \(text.debugDescription): \(error)")
            }
        }
    }

    /// Takes `walk` at most `steps` collections further over `index`'s collections under `set`'s
    /// fixed part, in parent order, and no further once it has found `untilMatched` matching ones:
    /// one seek per collection (to its first entry, then past its last), never a read of its
    /// operations.
    func walkParents(in index: Database, matching set: CollectionSet, walk: inout ParentWalk, steps: Int,
                     untilMatched: Int = .max) throws {
        guard !walk.isComplete else { return }
        let prefix = Array(set.parentPrefix.utf8)
        try txn.withCursor(index) { cursor in
            // LMDB refuses an empty key: every collection starts at the first entry.
            var entry = if let resume = walk.resume { try cursor.seek(atLeast: resume) }
                        else if prefix.isEmpty { try cursor.first() }
                        else { try cursor.seek(atLeast: prefix) }
            var taken = 0
            while let (key, _) = entry, Keys.hasPrefix(key, prefix) {
                guard taken < steps, walk.parents.count < untilMatched else { return }
                taken += 1
                guard let zero = key.firstIndex(of: 0) else {
                    throw StoreError(.dataLoss, "an entry of \(index.name) has no collection separator")
                }
                let parent = UnsafeRawBufferPointer(rebasing: key[..<zero])
                if set.matches(parent: parent) { walk.parents.append(Array(parent)) }
                // Parents never contain 0x00, so `parent · 0x01` is past every entry of that parent.
                let past = Array(parent) + [1]
                walk.resume = past
                entry = try cursor.seek(atLeast: past)
            }
            walk.isComplete = true
        }
    }
}

/// How far a walk over an index's collections has come
/// (``StoreReader/walkParents(in:matching:walk:steps:untilMatched:)``): a wildcard List page
/// walks only as far as it needs to choose how to read, a page of collections as far as its last.
struct ParentWalk {
    /// The parents found so far that the set matches, in order, as the index's keys hold them
    /// (UTF-8 bytes: matched as bytes, so that a List page builds no name for each).
    var parents: [[UInt8]] = []
    /// The key to go on from, past the last collection walked; nil before the first.
    var resume: [UInt8]?
    /// Whether every collection under the set's fixed part has been walked.
    var isComplete = false
}

/// A List page's cursors on the records it reads: on ``Schema/operations`` (running operations')
/// and, unless the page reads only running ones, on ``Schema/doneOperations``. A page's records
/// are in creation order in each, as its entries are, so each cursor only moves forward
/// (``ForwardCursor``), and one that already sits past a record costs it nothing.
struct PageRecords {
    private var running: ForwardCursor
    private var runningStepping = Stepping()
    private var done: ForwardCursor?
    private var doneStepping = Stepping()

    init(running: Cursor, done: Cursor?) {
        self.running = ForwardCursor(running)
        self.done = done.map(ForwardCursor.init)
    }

    /// The record of the list index entry `key` (whose last 8 bytes are its create sequence, after
    /// the last one looked up), or nil when no cursor finds it or a lookup fails:
    /// ``StoreReader/listedState(index:key:found:strings:)`` then looks again and says why.
    mutating func find(recordOf key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let recordKey = UnsafeRawBufferPointer(rebasing: key[(key.count - 8)...])
        if let value = Self.find(recordKey, &running, &runningStepping) { return value }
        guard done != nil else { return nil }
        return Self.find(recordKey, &done!, &doneStepping)
    }

    private static func find(_ key: UnsafeRawBufferPointer, _ cursor: inout ForwardCursor, _ stepping: inout Stepping) -> UnsafeRawBufferPointer? {
        guard let (value, stepped) = try? cursor.value(at: key, steppingAtMost: stepping.steps) else { return nil }
        stepping.record(stepped: stepped)
        return value
    }
}

/// Live records after a create sequence, in creation order across the cursors' databases (each
/// in key order: the next record is the smaller of their next ones).
private struct RecordScan {
    private var cursors: [Cursor]
    private var heads: [Cursor.Entry?]

    init(_ cursors: [Cursor], after: UInt64) throws {
        self.cursors = cursors
        heads = []
        for slot in self.cursors.indices { heads.append(try self.cursors[slot].seek(atLeast: Keys.sequence(after + 1))) }
    }

    /// The next record, the scan moving past it (the next one on its leaf page asked into the
    /// caches: ``Cursor/nextPrefetching()``).
    mutating func next() throws -> Cursor.Entry? {
        var next: Int?
        for slot in heads.indices {
            guard let head = heads[slot] else { continue }
            if let best = next, let current = heads[best], !head.key.lexicographicallyPrecedes(current.key) { continue }
            next = slot
        }
        guard let next, let entry = heads[next] else { return nil }
        heads[next] = try cursors[next].nextPrefetching()
        return entry
    }
}

/// Whether a List page finds its next record by stepping forward from the last one
/// (``ForwardCursor/value(at:steppingAtMost:)``) rather than by a search: yes while stepping
/// reaches most of them, as it does when the page's records are most of those in their range of
/// create sequences (one collection: 15 of 16 within four steps); no once it has missed more than
/// half as often as it reached (a collection among others that interleave with it), where each
/// miss costs its steps on top of the search.
private struct Stepping {
    private var reached = 0
    private var missed = 0

    var steps: Int { missed * 2 <= reached + 2 ? 4 : 0 }

    mutating func record(stepped: Bool) {
        if stepped { reached += 1 } else { missed += 1 }
    }
}

/// The next entry of each collection being merged, smallest create sequence first (a binary heap).
private struct MergeHeads {
    private var heap: [(sequence: UInt64, slot: Int)] = []

    mutating func push(sequence: UInt64, slot: Int) {
        heap.append((sequence, slot))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].sequence < heap[parent].sequence else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (UInt64, Int)? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, heap[left].sequence < heap[smallest].sequence { smallest = left }
                if right < heap.count, heap[right].sequence < heap[smallest].sequence { smallest = right }
                guard smallest != parent else { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (top.sequence, top.slot)
    }
}
