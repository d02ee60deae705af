import LMDB
import LongrunDomain

/// Reads of one consistent snapshot of the store. Valid only inside ``Store/read(_:)`` or
/// ``Store/write(_:)``.
public struct StoreReader {
    let txn: ReadTransaction
    let schema: Schema

    /// Sequence of the last event folded into the views.
    public func appliedSequence() throws -> UInt64 {
        guard let value = try txn.get(schema.meta, key: Schema.MetaKey.appliedSequence) else { return 0 }
        guard let sequence = Keys.decodeSequence(value) else {
            throw StoreError(.dataLoss, "meta applied_sequence has \(value.count) bytes, expected 8")
        }
        return sequence
    }

    func formatVersion() throws -> UInt32? {
        guard let value = try txn.get(schema.meta, key: Schema.MetaKey.formatVersion) else { return nil }
        guard value.count == 4 else { throw StoreError(.dataLoss, "meta format_version has \(value.count) bytes, expected 4") }
        return UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
    }

    /// Sequence of the newest event in the log; 0 when the log is empty.
    public func logHead() throws -> UInt64 {
        try txn.withCursor(schema.log) { cursor in
            guard let (key, _) = try cursor.last() else { return 0 }
            guard let sequence = Keys.decodeSequence(key) else { throw StoreError(.dataLoss, "log key of \(key.count) bytes") }
            return sequence
        }
    }

    /// Sequence of the oldest event still in the log; nil when the log is empty.
    public func logTail() throws -> UInt64? {
        try txn.withCursor(schema.log) { cursor in
            guard let (key, _) = try cursor.first() else { return nil }
            return Keys.decodeSequence(key)
        }
    }

    /// The state of `name`, deleted ones included (check ``OperationState/isDeleted``).
    public func operation(_ name: OperationName) throws -> OperationState? {
        guard let value = try txn.get(schema.operations, key: Keys.name(name)) else { return nil }
        return try decodeState(value, key: name.description)
    }

    /// The operation that `requestID` created in `collection`, if any.
    public func operation(forRequestID requestID: String, in collection: CollectionName) throws -> OperationState? {
        guard let value = try txn.get(schema.requestIDs, key: Keys.requestID(collection, requestID)) else { return nil }
        return try operation(OperationName(parsing: String(decoding: value, as: UTF8.self)))
    }

    /// The event at `sequence`, if the log holds it.
    public func event(at sequence: UInt64) throws -> Event? {
        guard let value = try txn.get(schema.log, key: Keys.sequence(sequence)) else { return nil }
        return try decodeEvent(value, sequence: sequence)
    }

    /// Up to `limit` events of the log with sequence greater than `after`, in order.
    public func events(after: UInt64, limit: Int) throws -> [Event] {
        try txn.withCursor(schema.log) { cursor in
            var events: [Event] = []
            var entry = try cursor.seek(atLeast: Keys.sequence(after &+ 1))
            while let (key, value) = entry, events.count < limit {
                let sequence = Keys.decodeSequence(key) ?? 0
                events.append(try decodeEvent(value, sequence: sequence))
                entry = try cursor.next()
            }
            return events
        }
    }

    /// Up to `limit` events of `name` (deleted operations included) with sequence greater than `after`.
    public func events(of name: OperationName, after: UInt64, limit: Int) throws -> [Event] {
        let prefix = Keys.historyPrefix(name)
        let sequences: [UInt64] = try txn.withCursor(schema.history) { cursor in
            var sequences: [UInt64] = []
            var entry = try cursor.seek(atLeast: prefix + Keys.sequence(after &+ 1))
            while let (key, _) = entry, sequences.count < limit, Keys.hasPrefix(key, prefix) {
                guard key.count == prefix.count + 8 else { break }
                sequences.append(Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) ?? 0)
                entry = try cursor.next()
            }
            return sequences
        }
        return try sequences.map { sequence in
            guard let event = try event(at: sequence) else {
                throw StoreError(.dataLoss, "history of \(name) names sequence \(sequence), which is not in the log")
            }
            return event
        }
    }

    /// Cancel-requested operations whose grace deadline is at or before `now`, oldest first, and the
    /// earliest deadline still in the future (for the sweeper to sleep until).
    public func cancelDeadlines(dueBy now: Timestamp, limit: Int) throws -> (due: [OperationName], next: Timestamp?) {
        try txn.withCursor(schema.cancelDeadlines) { cursor in
            var due: [OperationName] = []
            var entry = try cursor.first()
            while let (key, _) = entry {
                guard let (deadline, name) = Keys.decodeDeadline(key) else {
                    throw StoreError(.dataLoss, "cancel_deadlines key of \(key.count) bytes")
                }
                if deadline > now || due.count >= limit { return (due, deadline) }
                due.append(try OperationName(parsing: name))
                entry = try cursor.next()
            }
            return (due, nil)
        }
    }

    /// Number of live operations in the views (not deleted).
    public func liveOperationCount() throws -> Int { try txn.count(schema.byCreation) }
    public func runningOperationCount() throws -> Int { try txn.count(schema.running) }

    func decodeState(_ value: UnsafeRawBufferPointer, key: String) throws -> OperationState {
        do {
            return try RecordCodec.decodeState(value)
        } catch {
            throw StoreError(.dataLoss, "the view of \(key) cannot be decoded (\(error)); run `longrun-replay verify`")
        }
    }

    func decodeEvent(_ value: UnsafeRawBufferPointer, sequence: UInt64) throws -> Event {
        do {
            let event = try RecordCodec.decodeEvent(value)
            guard event.sequence == sequence else {
                throw CodecError(message: "it claims sequence \(event.sequence)")
            }
            return event
        } catch {
            throw StoreError(.dataLoss, "log event \(sequence) cannot be decoded (\(error)); run `longrun-replay verify`")
        }
    }
}

extension StoreReader {
    /// The operation's version right after the event at `sequence`: how many of its events have a
    /// sequence up to and including it. Walks the operation's history index.
    public func version(of name: OperationName, at sequence: UInt64) throws -> UInt64 {
        let prefix = Keys.historyPrefix(name)
        return try txn.withCursor(schema.history) { cursor in
            var count: UInt64 = 0
            var entry = try cursor.seek(atLeast: prefix)
            while let (key, _) = entry, Keys.hasPrefix(key, prefix), key.count == prefix.count + 8 {
                guard let entrySequence = Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])),
                      entrySequence <= sequence
                else { break }
                count += 1
                entry = try cursor.next()
            }
            return count
        }
    }
}
