@testable import LongrunStore
import LongrunTestSupport
import Testing

/// The set of changed names a differential is written from: distinct names, in the key order a
/// `Set<[UInt8]>` sorted by `lexicographicallyPrecedes` gives, without a heap object per name.
@Suite("Store: a differential's changed names")
struct ChangedNamesTests {
    static func reference(_ names: [[UInt8]]) -> [[UInt8]] {
        Set(names).sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test func keepsEachNameOnceInKeyOrder() {
        let names = ChangedNames()
        #expect(names.count == 0 && names.sorted.isEmpty)
        let added: [[UInt8]] = [
            Array("operations/b".utf8), Array("operations/a".utf8), Array("operations/b".utf8),
            Array("operations/ab".utf8), Array("operations/a".utf8), Array("operations".utf8),
            [0xFF, 0x01], [0x7F], [], [0x80], Array("operations/ab".utf8),
        ]
        var fresh: [Bool] = []
        for name in added { fresh.append(names.insert(name)) }
        #expect(fresh == [true, true, false, true, false, true, true, true, true, true, false], "a name already there is not added again")
        #expect(names.count == 8)
        // A prefix first, and bytes compared unsigned (0x80 and 0xFF after 0x7F).
        #expect(names.sorted == [[], Array("operations".utf8), Array("operations/a".utf8), Array("operations/ab".utf8),
                                 Array("operations/b".utf8), [0x7F], [0x80], [0xFF, 0x01]])
        #expect(names.sorted == Self.reference(added))
        #expect(names.contains(Array("operations/ab".utf8)) && !names.contains(Array("operations/c".utf8)))
    }

    @Test func namesAddedAfterTheOrderWasReadAreStillDeduplicated() {
        let names = ChangedNames()
        for index in 0..<100 { names.insert(Array("operations/op-\(index)".utf8)) }
        #expect(names.sorted.count == 100)
        #expect(!names.insert(Array("operations/op-7".utf8)), "the table comes back once the order was read")
        #expect(names.insert(Array("operations/op-100".utf8)))
        #expect(names.count == 101 && names.sorted == Self.reference((0...100).map { Array("operations/op-\($0)".utf8) }))
    }

    /// Many names, each added several times in random order, of lengths on both sides of a
    /// one-byte length prefix (127 and 128 bytes): the same set and order as a sorted `Set`.
    @Test func largeCountsMatchASortedSet() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        var distinct: [[UInt8]] = []
        for index in 0..<70_000 {
            var name = Array("tenants/t\(index % 97)/operations/".utf8) + random.bytes(0...12)
            if index % 1_000 == 0 { name += [UInt8](repeating: 0x61, count: 127 - min(name.count, 127) + index % 3) }
            distinct.append(name)
        }
        var added = distinct + distinct.prefix(35_000) + distinct.suffix(20_000)
        added.shuffle(using: &random)
        let names = ChangedNames()
        var fresh = 0
        for name in added where names.insert(name) { fresh += 1 }
        let expected = Self.reference(distinct)
        #expect(fresh == expected.count, "seed \(seed)")
        #expect(names.count == expected.count, "seed \(seed)")
        var ordered: [[UInt8]] = []
        names.forEach { ordered.append(Array($0)) }
        #expect(ordered == expected, "seed \(seed)")
    }
}
