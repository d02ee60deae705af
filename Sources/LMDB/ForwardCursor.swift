/// A cursor for lookups of keys in ascending order (a List page's records, in one database or in
/// several whose keys interleave): each lookup moves it forward to the first entry at or after
/// the key and leaves it there, so that the next one starts from that entry.
///
/// Why: the next key is mostly a step or a few away, and a step leaves a leaf page for the next
/// one through their parent where a search descends from the root with a binary search on every
/// page of the way; a key in another database (of several a page reads) costs nothing here when
/// the cursor already sits past it. W3 in BENCHMARKS.md measured it.
public struct ForwardCursor {
    private var cursor: Cursor
    private var position = Position.unknown

    private enum Position {
        /// Before the first lookup, or after one that failed.
        case unknown
        /// On the entry of the last key looked up, which it found.
        case onLastKey
        /// On this entry, the first after the last key looked up, which it did not find.
        case past(Cursor.Entry)
        /// Past the last entry.
        case end
    }

    public init(_ cursor: Cursor) {
        self.cursor = cursor
    }

    /// The value under `key`, which must be after the last key looked up, or nil when there is
    /// none. Steps forward up to `steps` entries from where the last lookup left the cursor, then
    /// searches as ``Cursor/seek(atLeast:)`` does; `stepped` says whether the steps (or the entry
    /// the cursor sat on) reached `key` or an entry past it. A value found in another block than
    /// the last one has its block asked into the caches, as ``Cursor/find(_:)`` does.
    public mutating func value(at key: UnsafeRawBufferPointer, steppingAtMost steps: Int) throws(LMDBError)
        -> (value: UnsafeRawBufferPointer?, stepped: Bool) {
        switch position {
        case .end:
            return (nil, true)
        case .past(let entry):
            let order = Cursor.compare(entry.key, key)
            if order == 0 { return (landed(on: entry), true) }
            if order > 0 { return (nil, true) }
            if let found = try step(to: key, steps) { return found }
        case .onLastKey:
            if let found = try step(to: key, steps) { return found }
        case .unknown:
            break
        }
        position = .unknown
        guard let entry = try cursor.seek(atLeast: key) else {
            position = .end
            return (nil, false)
        }
        return (settle(on: entry, key), false)
    }

    /// Up to `steps` steps towards `key`: what they found, or nil when they did not reach it or
    /// an entry past it.
    private mutating func step(to key: UnsafeRawBufferPointer, _ steps: Int) throws(LMDBError)
        -> (value: UnsafeRawBufferPointer?, stepped: Bool)? {
        // Unknown until a move lands (a move that fails leaves the cursor anywhere).
        position = .unknown
        for _ in 0..<steps {
            guard let next = try cursor.next() else {
                position = .end
                return (nil, true)
            }
            let order = Cursor.compare(next.key, key)
            if order == 0 {
                position = .onLastKey
                return (landed(on: next), true)
            }
            if order > 0 {
                position = .past(next)
                return (nil, true)
            }
        }
        return nil
    }

    /// Records the cursor on `entry`, the first at or after `key` (where a search landed): its
    /// value if its key is `key`.
    private mutating func settle(on entry: Cursor.Entry, _ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard Cursor.compare(entry.key, key) == 0 else {
            position = .past(entry)
            return nil
        }
        position = .onLastKey
        return landed(on: entry)
    }

    /// `entry`'s value, its block asked into the caches.
    private mutating func landed(on entry: Cursor.Entry) -> UnsafeRawBufferPointer {
        cursor.prefetch(entry.value)
        return entry.value
    }
}
