#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of operation names (their keys' bytes) held without a heap object per name: the names a
/// differential snapshot holds, which may be half the records of a large store. Each distinct name
/// is appended once to one byte buffer (a LEB128 length, then its bytes) and found again through an
/// open-addressing table of offsets into that buffer; in order, it is one sorted array of offsets
/// (the table is released then). Per name: its bytes and a length byte, 5 to 11 bytes of table,
/// and 4 of order; a `Set<[UInt8]>` spends an array object per name (a 32-byte header and its own
/// malloc chunk), a hash slot, and a slot in a sorted copy. And in three allocations rather than
/// one per name: large ones are mapped on their own and go back to the system when freed, where
/// the small chunks of many names stay in the allocator's arena of the thread that wrote the
/// snapshot (BENCHMARKS.md, "Differential snapshots"). The buffer grows by a quarter with `realloc`,
/// which moves a mapped one without copying.
///
/// Names are ordered as `[UInt8].lexicographicallyPrecedes` orders them (bytes compared unsigned,
/// a prefix first): the order of LMDB's keys, which a snapshot writes its entries in.
final class ChangedNames {
    /// Every distinct name, each as a LEB128 length and its bytes, in the order first added.
    private var bytes: UnsafeMutableRawPointer?
    private var byteCount = 0
    private var byteCapacity = 0
    /// Open addressing, linear probing: 0 is an empty slot, else one more than a name's offset in `bytes`.
    private var slots: UnsafeMutablePointer<UInt32>?
    private var slotCount = 0
    /// The offsets of the names in order, once asked for (the table is released then, and rebuilt
    /// if names are added after).
    private var order: [UInt32]?
    /// The number of distinct names.
    private(set) var count = 0

    init() {}

    deinit {
        free(bytes)
        free(slots)
    }

    /// Adds `name` unless it is there; returns whether it was new.
    @discardableResult
    func insert(_ name: UnsafeRawBufferPointer) -> Bool {
        if slots == nil { rebuildTable(slotCount: max(64, Self.slotCount(for: count + 1))) }
        var slot = Self.hash(name) & (slotCount - 1)
        while slots![slot] != 0 {
            if Self.equal(name, self.name(at: Int(slots![slot] - 1))) { return false }
            slot = (slot + 1) & (slotCount - 1)
        }
        let offset = byteCount
        // Offsets are 32-bit: 4 GiB of names, over a hundred million of them.
        precondition(offset + 5 + name.count < Int(UInt32.max), "more than 4 GiB of changed names")
        reserve(5 + name.count)
        var length = name.count
        repeat {
            bytes!.storeBytes(of: UInt8(length & 0x7F) | (length >= 0x80 ? 0x80 : 0), toByteOffset: byteCount, as: UInt8.self)
            byteCount += 1
            length >>= 7
        } while length > 0
        if let base = name.baseAddress { (bytes! + byteCount).copyMemory(from: base, byteCount: name.count) }
        byteCount += name.count
        slots![slot] = UInt32(offset + 1)
        count += 1
        order = nil
        if count * 4 > slotCount * 3 { rebuildTable(slotCount: slotCount * 2) }
        return true
    }

    /// Adds `name` unless it is there; returns whether it was new.
    @discardableResult
    func insert(_ name: [UInt8]) -> Bool {
        name.withUnsafeBytes { insert($0) }
    }

    /// Whether `name` is one of the names.
    func contains(_ name: [UInt8]) -> Bool {
        name.withUnsafeBytes { name in
            if slots == nil { rebuildTable(slotCount: max(64, Self.slotCount(for: count + 1))) }
            var slot = Self.hash(name) & (slotCount - 1)
            while slots![slot] != 0 {
                if Self.equal(name, self.name(at: Int(slots![slot] - 1))) { return true }
                slot = (slot + 1) & (slotCount - 1)
            }
            return false
        }
    }

    /// Calls `body` with each name, in order. The buffer is valid only during the call. The first
    /// call sorts, and releases the table (a later insert rebuilds it).
    func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        if order == nil { sort() }
        for offset in order! { try body(name(at: Int(offset))) }
    }

    /// The names in order, as arrays (for tests and small sets).
    var sorted: [[UInt8]] {
        var names: [[UInt8]] = []
        names.reserveCapacity(count)
        forEach { names.append(Array($0)) }
        return names
    }

    private func sort() {
        var offsets: [UInt32] = []
        offsets.reserveCapacity(count)
        var offset = 0
        while offset < byteCount {
            offsets.append(UInt32(offset))
            let (length, prefix) = lengthPrefix(at: offset)
            offset += prefix + length
        }
        // The order is all a sorted set needs from here: the table goes, and comes back if a name is added.
        free(slots)
        slots = nil
        slotCount = 0
        offsets.sort { Self.precedes(name(at: Int($0)), name(at: Int($1))) }
        order = offsets
    }

    /// The name stored at `offset` (its length prefix's).
    private func name(at offset: Int) -> UnsafeRawBufferPointer {
        let (length, prefix) = lengthPrefix(at: offset)
        return UnsafeRawBufferPointer(start: bytes! + offset + prefix, count: length)
    }

    private func lengthPrefix(at offset: Int) -> (length: Int, prefix: Int) {
        var length = 0, shift = 0, index = offset
        while true {
            let byte = bytes!.load(fromByteOffset: index, as: UInt8.self)
            length |= Int(byte & 0x7F) << shift
            index += 1
            if byte & 0x80 == 0 { return (length, index - offset) }
            shift += 7
        }
    }

    private func reserve(_ more: Int) {
        guard byteCount + more > byteCapacity else { return }
        // By a quarter: a mapped buffer grows in place or by mremap, so a small step costs little,
        // and leaves at most a quarter of it unused.
        let capacity = max(byteCount + more, byteCapacity + byteCapacity / 4, 64 << 10)
        guard let grown = realloc(bytes, capacity) else { fatalError("out of memory for \(capacity) bytes of changed names") }
        bytes = grown
        byteCapacity = capacity
    }

    private func rebuildTable(slotCount newCount: Int) {
        guard let table = calloc(newCount, MemoryLayout<UInt32>.stride)?.assumingMemoryBound(to: UInt32.self) else {
            fatalError("out of memory for a table of \(newCount) changed names")
        }
        var offset = 0
        while offset < byteCount {
            var slot = Self.hash(name(at: offset)) & (newCount - 1)
            while table[slot] != 0 { slot = (slot + 1) & (newCount - 1) }
            table[slot] = UInt32(offset + 1)
            let (length, prefix) = lengthPrefix(at: offset)
            offset += prefix + length
        }
        free(slots)
        slots = table
        slotCount = newCount
    }

    /// A power of two with room for `count` names at three quarters full.
    private static func slotCount(for count: Int) -> Int {
        var slots = 1
        while slots * 3 < count * 4 { slots <<= 1 }
        return slots
    }

    private static func hash(_ name: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: name)
        return hasher.finalize()
    }

    private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// Whether `a` orders before `b`: bytes compared unsigned, a prefix first.
    static func precedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return order < 0 }
        }
        return a.count < b.count
    }
}
