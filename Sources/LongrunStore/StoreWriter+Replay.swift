import LMDB
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension StoreReader {
    /// Reads and decodes the logged events `from...through` for replay, without folding them: the
    /// first stage of replay (``Store/replayTail(chunk:progress:)``), which runs on a thread of its own while
    /// the writer folds and writes the chunk before. Each operation's name is parsed once per chunk,
    /// when the chunk first meets it; its later events share it, found by the bytes the log stores.
    func decodeLogged(from: UInt64, through: UInt64) throws -> DecodedChunk {
        var decoded = DecodedChunk(from: from, through: through)
        guard from <= through else { return decoded }
        let strings = RecordStrings()
        var expected = from
        try txn.withCursor(schema.log) { cursor in
            var entry = try cursor.seek(atLeast: Keys.sequence(from))
            while let (key, value) = entry, expected <= through {
                guard let sequence = Keys.decodeSequence(key), sequence == expected else {
                    throw StoreError(.dataLoss, "the log has a gap: expected sequence \(expected), found \(Keys.decodeSequence(key).map(String.init) ?? "a malformed key")")
                }
                var slot: Int?
                let event = try decodeEvent(value, sequence: sequence, strings: strings) { bytes throws(CodecError) in
                    if let known = decoded.names.slot(named: bytes) {
                        slot = known
                        return decoded.names.name(at: known)
                    }
                    return try RecordCodec.eventName(bytes)
                }
                decoded.slots.append(Int32(slot ?? decoded.names.add(event.name)))
                decoded.events.append(event)
                expected += 1
                entry = try cursor.next()
            }
        }
        guard expected == through + 1 else {
            throw StoreError(.dataLoss, "the log ends at \(expected - 1) before the expected \(through)")
        }
        decoded.nameOrder = decoded.names.nameOrder()
        return decoded
    }
}

extension StoreWriter {
    /// Replay: folds decoded log events (``StoreReader/decodeLogged(from:through:)``) into the views.
    ///
    /// Folds each operation's events in memory, then writes each operation touched in the chunk
    /// once: its record, its new history entries, and the difference between the indexes of its
    /// state before the chunk and after it. The views end exactly as folding event by event leaves
    /// them (the indexes are a function of the state: ``IndexEntries``), at a fraction of the reads,
    /// decodes, encodes and writes.
    ///
    /// Every database is written in one ascending run through one cursor: the live records and
    /// the history entries by create sequence, the tombstones and `names` in name order, the
    /// other indexes in the order the chunk first met each operation (which is creation order for
    /// those it created, so the creation indexes grow at their end).
    /// Consecutive keys mostly land on the leaf page the cursor is on, so LMDB neither searches
    /// from the root nor touches a page twice.
    func foldDecoded(_ decoded: DecodedChunk) throws {
        precondition(decoded.from == applied + 1, "replay must continue from the applied sequence")
        guard decoded.from <= decoded.through else { return }
        // One reader for the chunk: `reader` builds one (a copy of the schema) on every use.
        let reader = reader
        var chunk = try ReplayChunk(decoded.names, nameOrder: decoded.nameOrder, events: decoded.events.count) { try reader.operation($0) }
        decoded.events.withUnsafeBufferPointer { events in
            decoded.slots.withUnsafeBufferPointer { slots in
                for index in events.indices { chunk.fold(events[index], into: Int(slots[index])) }
            }
        }
        try write(&chunk)
        try setAppliedSequence(decoded.through)
    }

    /// Writes what a chunk folded: live records and history in creation order, tombstones in name
    /// order, then each index. Each changed state is taken out of the chunk (not copied: a copy
    /// retains and releases every field), encoded after its checksum's place in one reused buffer,
    /// and left as its index entries.
    private func write(_ chunk: inout ReplayChunk) throws {
        let byName = chunk.nameOrder
        let createSequences = chunk.createSequences
        var writer = WireWriter(capacity: 256)
        // The index entries of each changed operation's state after the chunk, by its index in the
        // chunk (no entries for one that did not change), and which indexes it leaves or enters
        // (bit `n`: `IndexEntries.Index.allCases[n]`). Not optional, and read in place through a
        // buffer: read through an optional or an array's subscript, every use copied the entries
        // (a retain and a release of each of their strings).
        var new = [IndexEntries](repeating: IndexEntries(nil), count: chunk.operations.count)
        var removes = [UInt8](repeating: 0, count: chunk.operations.count)
        var adds = [UInt8](repeating: 0, count: chunk.operations.count)
        // Records go where their state keeps them (``Schema/recordDatabase(_:)``), each database
        // through its own cursor in its keys' order: live ones by create sequence, dead ones by
        // name. One that ended in the chunk leaves `operations`; one that died, its live database.
        var live: [Int] = [], dead: [Int] = []
        for slot in byName where chunk.operations[slot].changed {
            if chunk.isListed(at: slot) { live.append(slot) } else { dead.append(slot) }
        }
        live.sort { createSequences[$0] < createSequences[$1] }
        var recordKey = Keys.sequence(0)
        try txn.withCursor(schema.operations) { runningCursor in
            try txn.withCursor(schema.doneOperations) { doneCursor in
                try txn.withCursor(schema.tombstones) { deadCursor in
                    for slot in live + dead {
                        let state = chunk.takeState(at: slot)!
                        let entries = IndexEntries(state)
                        let before = chunk.operations[slot].before
                        let home = schema.recordDatabase(entries.facts)
                        let listed = entries.facts.listed
                        if listed || before.facts.listed {
                            recordKey.withUnsafeMutableBytes { $0.storeBytes(of: createSequences[slot].bigEndian, as: UInt64.self) }
                        }
                        if let left = schema.liveRecordsLeft(from: before.facts, to: entries.facts) { _ = try txn.delete(left, key: recordKey) }
                        try (listed ? recordKey : chunk.operations[slot].key).withUnsafeBytes { key in
                            Checksum.seal(key: key, into: &writer) { RecordCodec.encode(state, into: &$0) }
                            try writer.bytes.withUnsafeBytes { value in
                                switch home {
                                case schema.operations: try runningCursor.put(key: key, value: value)
                                case schema.doneOperations: try doneCursor.put(key: key, value: value)
                                default: try deadCursor.put(key: key, value: value)
                                }
                            }
                        }
                        for (bit, index) in IndexEntries.Index.allCases.enumerated() {
                            if IndexEntries.removes(index, from: before, to: entries) { removes[slot] |= 1 << bit }
                            if IndexEntries.adds(index, from: before, to: entries) { adds[slot] |= 1 << bit }
                        }
                        new[slot] = entries // its last use: the entries move in
                    }
                }
            }
        }
        try writeHistory(chunk.history, createSequences: createSequences)

        // The entries to remove and to add, as event-by-event folding would change them
        // (``StoreWriter/updateIndexes(from:to:)``), then one pass per index, in the order the
        // chunk met the operations. Entries are compared as facts; a key is built, into one
        // buffer, only for what changes.
        var value: [UInt8] = []
        var key: [UInt8] = []
        for slot in chunk.operations.indices where removes[slot] != 0 {
            for (bit, index) in IndexEntries.Index.allCases.enumerated() where removes[slot] & 1 << bit != 0 {
                chunk.operations[slot].before.key(index, into: &key)
                _ = try txn.delete(index.database(schema), key: key)
            }
        }
        // `names` is keyed by name: its entries go in name order, each next to the last.
        let metOrder = Array(chunk.operations.indices)
        try new.withUnsafeBufferPointer { new in
            for (bit, index) in IndexEntries.Index.allCases.enumerated() {
                try txn.withCursor(index.database(schema)) { cursor in
                    for slot in index == .names ? byName : metOrder where adds[slot] & 1 << bit != 0 {
                        new[slot].key(index, into: &key)
                        try putSealed(&cursor, key: key, body: index.bodyNamesOperation ? chunk.operations[slot].key : new[slot].body(index), value: &value)
                    }
                }
            }
        }
    }

    /// A chunk's history entries, `create sequence · sequence`, in key order: operations by create
    /// sequence (`createSequences`: each one's by its index in the chunk; those without entries
    /// may hold anything), each one's sequences ascending (the log's order), so the whole run
    /// ascends. The operations running now were all created lately: their entries go to the
    /// tree's last pages.
    func writeHistory(_ history: [(slot: Int32, sequence: UInt64)], createSequences: [UInt64]) throws {
        let order = createSequences.indices.sorted { createSequences[$0] < createSequences[$1] }
        // Counting sort of the entries (in log order) by their operation's place in that order.
        var rank = [Int](repeating: 0, count: order.count)
        for (place, index) in order.enumerated() { rank[index] = place }
        var starts = [Int](repeating: 0, count: order.count + 1)
        for (slot, _) in history { starts[rank[Int(slot)] + 1] += 1 }
        for place in 0..<order.count { starts[place + 1] += starts[place] }
        var sequences = [UInt64](repeating: 0, count: history.count)
        var fill = starts
        for (slot, sequence) in history {
            let place = rank[Int(slot)]
            sequences[fill[place]] = sequence
            fill[place] += 1
        }
        var key = Keys.history(createSequence: 0, 0)
        var value: [UInt8] = []
        try txn.withCursor(schema.history) { cursor in
            for (place, index) in order.enumerated() where starts[place] < starts[place + 1] {
                let createSequence = createSequences[index]
                key.withUnsafeMutableBytes { $0.storeBytes(of: createSequence.bigEndian, toByteOffset: 0, as: UInt64.self) }
                for sequence in sequences[starts[place]..<starts[place + 1]] {
                    key.withUnsafeMutableBytes { $0.storeBytes(of: sequence.bigEndian, toByteOffset: 8, as: UInt64.self) }
                    try putSealed(&cursor, key: key, body: [], value: &value)
                }
            }
        }
    }

    /// ``putSealed(_:key:body:)`` through a cursor of a sorted run, sealing into `value` (a buffer
    /// the run reuses).
    private func putSealed(_ cursor: inout Cursor, key: [UInt8], body: [UInt8], value: inout [UInt8]) throws {
        try key.withUnsafeBytes { key in
            body.withUnsafeBytes { body in Checksum.seal(key: key, body: body, into: &value) }
            try value.withUnsafeBytes { value in try cursor.put(key: key, value: value) }
        }
    }
}

/// A chunk of the log as replay's first stage leaves it: the events decoded, each with the index
/// of its operation in ``names`` (the order the chunk first met them).
struct DecodedChunk: Sendable {
    let from: UInt64
    let through: UInt64
    var names: ReplayNames
    var events: [Event] = []
    var slots: [Int32] = []
    /// Indexes into ``names`` in the order of their keys (``ReplayNames/nameOrder()``): sorted
    /// here, off the writer's thread.
    var nameOrder: [Int] = []

    init(from: UInt64, through: UInt64) {
        self.from = from
        self.through = through
        let expected = from <= through ? Int(min(through - from + 1, 1 << 20)) : 0
        names = ReplayNames(expectedEvents: expected)
        events.reserveCapacity(expected)
        slots.reserveCapacity(expected)
    }
}

/// The operations a replay chunk meets, in the order it meets them, found by the bytes of their
/// name as the log stores them: an event of an operation met before costs neither a `String` nor
/// a parse of its name.
struct ReplayNames: Sendable {
    struct Entry: Sendable {
        let name: OperationName
        /// The name's UTF-8: its key in `operations`, and the value of its list entries.
        let key: [UInt8]
        let hash: Int
    }

    private(set) var entries: [Entry] = []
    /// Open addressing over ``entries`` (-1: empty), at most half full.
    private var buckets: [Int32]

    init(expectedEvents: Int) {
        // About four events per operation in a chunk (create, progress, complete); more operations
        // grow the array, whose every growth moves all of it.
        entries.reserveCapacity(expectedEvents / 4)
        var capacity = 1024
        while capacity < expectedEvents / 2 { capacity *= 2 }
        buckets = [Int32](repeating: -1, count: capacity)
    }

    /// The index of the operation whose name has these bytes, if the chunk met it.
    func slot(named bytes: UnsafeRawBufferPointer) -> Int? {
        let hash = Self.hash(bytes)
        let mask = buckets.count - 1
        var bucket = hash & mask
        while true {
            let slot = Int(buckets[bucket])
            if slot < 0 { return nil }
            if entries[slot].hash == hash,
               entries[slot].key.withUnsafeBytes({ $0.count == bytes.count && memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
                return slot
            }
            bucket = (bucket + 1) & mask
        }
    }

    /// The name of the operation at `slot`, without copying the rest of its entry.
    func name(at slot: Int) -> OperationName { entries[slot].name }

    /// Adds an operation the chunk had not met; returns its index.
    mutating func add(_ name: OperationName) -> Int {
        let key = Keys.name(name)
        let hash = key.withUnsafeBytes { Self.hash($0) }
        entries.append(Entry(name: name, key: key, hash: hash))
        if entries.count * 2 > buckets.count {
            buckets = [Int32](repeating: -1, count: buckets.count * 2)
            for slot in entries.indices { place(slot) }
        } else {
            place(entries.count - 1)
        }
        return entries.count - 1
    }

    /// Indexes into ``entries`` in the order of their keys (bytewise, as LMDB orders them).
    func nameOrder() -> [Int] {
        entries.indices.sorted { Keys.precedes(entries[$0].key, entries[$1].key) }
    }

    private mutating func place(_ slot: Int) {
        let mask = buckets.count - 1
        var bucket = entries[slot].hash & mask
        while buckets[bucket] >= 0 { bucket = (bucket + 1) & mask }
        buckets[bucket] = Int32(slot)
    }

    /// Eight bytes at a time, each word mixed in by a multiply and a shift (SplitMix64's
    /// finalizer): a byte at a time, as FNV-1a did, the hash took most of a lookup. Collisions only
    /// cost a comparison.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hash = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        func mix(_ word: UInt64) {
            hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
        }
        var offset = 0
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        for byte in bytes[offset...] { tail = tail << 8 | UInt64(byte) }
        mix(tail)
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: hash ^ (hash >> 31))
    }
}

/// The operations one replay chunk touches, folded in memory: each with its state before the
/// chunk and after it, and the chunk's history entries.
struct ReplayChunk {
    struct Operation {
        /// The name's UTF-8: its key in `tombstones` and `names`, and its list entries' value.
        let key: [UInt8]
        /// The index entries of its state before the chunk: all the chunk needs of that state.
        let before: IndexEntries
        var after: OperationState?
        /// Whether an event of the chunk applied to it (event-by-event folding would have written
        /// its record and indexes then); it has a state (``after``) then.
        var changed = false
    }

    /// Each operation's create sequence, by its index in ``operations`` (`UInt64.max` for one the
    /// chunk neither found stored nor created): its history entries' prefix, kept apart so that
    /// it outlives ``takeState(at:)``.
    private(set) var createSequences: [UInt64] = []

    private(set) var operations: [Operation] = []
    /// Indexes into ``operations`` in the order of their keys (bytewise, as LMDB orders them).
    let nameOrder: [Int]
    /// Every history entry the chunk adds, in log order: the operation's index in ``operations``
    /// and the event's sequence.
    var history: [(slot: Int32, sequence: UInt64)] = []

    /// The chunk's operations in the order it met them (``ReplayNames``), each with its state as
    /// stored before the chunk.
    init(_ names: ReplayNames, nameOrder: [Int], events: Int, stored: (OperationName) throws -> OperationState?) rethrows {
        self.nameOrder = nameOrder
        history.reserveCapacity(events)
        operations.reserveCapacity(names.entries.count)
        createSequences.reserveCapacity(names.entries.count)
        for entry in names.entries {
            let state = try stored(entry.name)
            createSequences.append(state?.createSequence ?? .max)
            operations.append(Operation(key: entry.key, before: IndexEntries(state), after: state))
        }
    }

    /// Whether the operation at `slot` is listed after the chunk (its record is in `operations`),
    /// read in place (binding the state would copy it: a retain and a release of each field).
    func isListed(at slot: Int) -> Bool {
        operations[slot].after != nil && IndexFacts.isListed(operations[slot].after!)
    }

    /// Takes the state of the operation at `slot` out of the chunk (moved, not copied), for
    /// writing it once the chunk is folded.
    mutating func takeState(at slot: Int) -> OperationState? {
        operations[slot].after.take()
    }

    /// Folds `event` into the state of the operation at `slot`, in place (the state is not copied
    /// per event), and notes its history entry when it applies.
    mutating func fold(_ event: Event, into slot: Int) {
        if Lifecycle.apply(&operations[slot].after, event) {
            // A state that applies an event exists after it: created by it when there was none.
            if createSequences[slot] == .max { createSequences[slot] = event.sequence }
            operations[slot].changed = true
            history.append((Int32(slot), event.sequence))
        }
    }
}
