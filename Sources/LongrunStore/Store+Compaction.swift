import LMDB
public import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// Drops the log's events up to and including `through`, which must be the sequence of a
    /// usable snapshot (so a rebuild can still start from it), in chunks. Each dropped event's
    /// history entry goes with it; the views keep every operation's current state. The chain hash
    /// of the last dropped event becomes the log's base hash, so the chain of what remains still
    /// verifies. The newest event always stays, even when `through` is the head: the log's head
    /// is the sequence the next event follows (an empty log would start again at 1, and a store
    /// whose views are ahead of its log does not open). Returns how many events were dropped.
    ///
    /// Each chunk is one write transaction, which the engine's writer waits for: chunks are small,
    /// and the writer gets the lock between two (a pause of `pause`), so that compacting a few
    /// hundred thousand events holds commits up for a few milliseconds at a time, not seconds.
    @discardableResult
    public func compactLog(through: UInt64, chunk: Int = 1_000, pause: Duration = .milliseconds(1)) throws -> UInt64 {
        guard let snapshot = try usableSnapshot(upTo: through), snapshot.sequence == through else {
            throw StoreError(.storage, "compaction must end at a usable snapshot's sequence; none is at \(through)")
        }
        var dropped: UInt64 = 0
        while true {
            let count = try write { writer -> Int in
                let reader = writer.reader
                guard let through = try reader.compactionEnd(through: through) else { return 0 }
                var count = 0
                var lastHash: ChainHash?
                var keys: [[UInt8]] = []
                var events: [Event] = []
                try reader.txn.withCursor(schema.log) { cursor in
                    var entry = try cursor.first()
                    while let (key, value) = entry, count < chunk, let sequence = Keys.decodeSequence(key), sequence <= through {
                        events.append(try reader.decodeEvent(value, sequence: sequence))
                        lastHash = LogEntry.split(value)?.hash
                        keys.append(Array(key))
                        count += 1
                        entry = try cursor.next()
                    }
                }
                // Each event's history entry is under its operation's create sequence: its own
                // for a creation, else its record's, looked up once per operation of the chunk.
                // An entry whose record cannot be read stays, for a repair of it to drop.
                var created: [OperationName: UInt64?] = [:]
                for event in events {
                    if case .created = event.kind { created[event.name] = event.sequence }
                    let createSequence: UInt64?
                    if let known = created[event.name] {
                        createSequence = known
                    } else {
                        createSequence = (try? reader.operation(event.name))?.createSequence
                        created[event.name] = .some(createSequence)  // nil too: looked up once
                    }
                    guard let createSequence else { continue }
                    try writer.txn.delete(schema.history, key: Keys.history(createSequence: createSequence, event.sequence))
                }
                for key in keys { try writer.txn.delete(schema.log, key: key) }
                if let lastHash { try writer.txn.put(schema.meta, key: Schema.MetaKey.logBaseHash, value: lastHash.bytes) }
                if let last = events.last?.sequence { try forgetDead(among: events, compactedThrough: last, writer) }
                return count
            }
            dropped += UInt64(count)
            if count < chunk { return dropped }
            var rest = timespec(tv_sec: Int(pause.components.seconds), tv_nsec: Int(pause.components.attoseconds / 1_000_000_000))
            nanosleep(&rest, nil)
        }
    }

    /// Forgets the operations whose last events were among `events`, just compacted through
    /// `sequence` (``Lifecycle/isForgotten(_:compactedThrough:)``), and records that none is left.
    /// A dead operation's last event is its deletion or expiry, or a repair after it: only those
    /// names are looked up, so the cost follows the events compacted, not the tombstones kept.
    private func forgetDead(among events: [Event], compactedThrough sequence: UInt64, _ writer: StoreWriter) throws {
        var seen: Set<OperationName> = []
        for event in events {
            switch event.kind {
            case .deleted, .expired, .repaired: break
            default: continue
            }
            // A record that cannot be read stays, for the scrub to report and a repair to rebuild.
            guard seen.insert(event.name).inserted, let state = try? writer.reader.operation(event.name),
                  Lifecycle.isForgotten(state, compactedThrough: sequence)
            else { continue }
            try writer.forget(state)
        }
        // Only if nothing compacted before these events was left unforgotten (by an older build).
        if let first = events.first?.sequence, (try writer.reader.forgottenThrough() ?? 0) + 1 >= first {
            try writer.noteForgotten(through: sequence)
        }
    }
}

extension StoreReader {
    /// The last event compacting through `sequence` would drop now: `sequence`, but never the
    /// newest event (the next one follows it); nil when that leaves nothing to drop.
    public func compactionEnd(through sequence: UInt64) throws -> UInt64? {
        guard let tail = try logTail() else { return nil }
        let end = min(sequence, try logHead() - 1)
        return end >= tail ? end : nil
    }

    /// `name`'s state right after the event at `sequence`, folded from its history; nil if it did
    /// not exist yet. OUT_OF_RANGE if it was created before the retained log (its early events were
    /// compacted; its current state is still in the views).
    public func state(of name: OperationName, at sequence: UInt64) throws -> OperationState? {
        // No record, no history: never created, or forgotten with every event it had.
        guard let current = try operation(name) else { return nil }
        if let tail = try logTail(), tail > 1, current.createSequence < tail {
            throw DomainError(.outOfRange, reason: .historyCompacted,
                              "the early events of \(name) were compacted (the log starts at \(tail)); its state at \(sequence) cannot be computed")
        }
        // In this one read transaction, so that no compaction lands between two pages.
        var fold = Lifecycle.HistoryFold(through: sequence)
        while let after = fold.nextPageAfter {
            fold.add(try events(of: name, createdAt: current.createSequence, after: after, limit: Lifecycle.HistoryFold.pageSize))
        }
        return fold.state
    }
}
