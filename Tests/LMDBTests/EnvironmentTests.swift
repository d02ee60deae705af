@testable import LMDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("LMDB environment and transactions")
struct EnvironmentTests {
    let directory: String

    init() {
        var template = Array("/tmp/longrun-lmdb-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func open(initialMapSize: Int = 1 << 20, maximumMapSize: Int = 1 << 30) throws -> Environment {
        var configuration = Environment.Configuration(path: directory)
        configuration.initialMapSize = initialMapSize
        configuration.maximumMapSize = maximumMapSize
        return try Environment(configuration: configuration)
    }

    func string(_ buffer: UnsafeRawBufferPointer?) -> String? {
        buffer.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func writeCommitsWhenTheClosureReturns() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        try env.write { txn in try txn.put(db, key: Array("a".utf8), value: Array("1".utf8)) }
        let value = try env.read { txn in string(try txn.get(db, key: Array("a".utf8))) }
        #expect(value == "1")
    }

    @Test func writeAbortsWhenTheClosureThrows() throws {
        struct Boom: Error {}
        let env = try open()
        let db = try env.openDatabase("things")
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(db, key: Array("a".utf8), value: Array("1".utf8))
                throw Boom()
            }
        }
        let value = try env.read { txn in string(try txn.get(db, key: Array("a".utf8))) }
        #expect(value == nil)
    }

    @Test func getReturnsNilForAMissingKeyInsteadOfThrowing() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        #expect(try env.read { txn in try txn.get(db, key: Array("missing".utf8)) } == nil)
    }

    @Test func insertOnlyAndAppendRefuseWhatTheyMust() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        try env.write { txn in try txn.put(db, key: [2], value: [1], mode: .append) }
        #expect {
            try env.write { txn in try txn.put(db, key: [1], value: [1], mode: .append) }
        } throws: { ($0 as? LMDBError)?.kind == .keyExists }
        #expect {
            try env.write { txn in try txn.put(db, key: [2], value: [9], mode: .insertOnly) }
        } throws: { ($0 as? LMDBError)?.kind == .keyExists }
        #expect(try env.read { txn in try txn.get(db, key: [2]).map(Array.init) } == [1])
    }

    @Test func cursorsWalkKeysInByteOrderAndSeek() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        try env.write { txn in
            for key in ["b", "d", "a", "c"] { try txn.put(db, key: Array(key.utf8), value: []) }
        }
        let (all, fromC, last) = try env.read { txn in
            try txn.withCursor(db) { cursor in
                var keys: [String] = []
                var entry = try cursor.first()
                while let (key, _) = entry {
                    keys.append(String(decoding: key, as: UTF8.self))
                    entry = try cursor.next()
                }
                let seeked = try cursor.seek(atLeast: Array("bb".utf8)).map { String(decoding: $0.key, as: UTF8.self) }
                let last = try cursor.last().map { String(decoding: $0.key, as: UTF8.self) }
                return (keys, seeked, last)
            }
        }
        #expect(all == ["a", "b", "c", "d"])
        #expect(fromC == "c")
        #expect(last == "d")
    }

    @Test func aCursorFindsKeysOnItsPageAndElsewhereAndMissesWhatIsAbsent() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        // Thousands of keys: many leaf pages, so lookups land on the cursor's page and off it.
        let keys = (0..<5_000).map { index in
            let digits = String(index * 2)
            return "key-" + String(repeating: "0", count: 5 - digits.count) + digits
        }
        try env.write { txn in
            for key in keys { try txn.put(db, key: Array(key.utf8), value: Array("value of \(key)".utf8)) }
        }
        var generator = SystemRandomNumberGenerator()
        let order = keys + keys.shuffled(using: &generator) + keys.reversed()
        let (wrong, absentFound) = try env.read { txn in
            try txn.withCursor(db) { cursor in
                var wrong: [String] = []
                var absentFound: [String] = []
                for (step, key) in order.enumerated() {
                    let found = try Array(key.utf8).withUnsafeBytes { try cursor.find($0) }
                    if string(found) != "value of \(key)" { wrong.append(key) }
                    // A key between two stored ones, after a hit: the miss leaves the next lookup working.
                    if step % 7 == 0 {
                        let absent = key + "+"
                        if try Array(absent.utf8).withUnsafeBytes({ try cursor.find($0) }) != nil { absentFound.append(absent) }
                    }
                }
                return (wrong, absentFound)
            }
        }
        #expect(wrong.isEmpty)
        #expect(absentFound.isEmpty)
    }

    /// A scan that prefetches what it reads walks the same entries as one that does not, across
    /// leaf pages and values of every size up to overflow pages, and ends where the other does.
    @Test func aPrefetchingScanReadsWhatAPlainOneReads() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        func key(_ number: UInt64) -> [UInt8] { withUnsafeBytes(of: number.bigEndian) { Array($0) } }
        try env.write { txn in
            for number in UInt64(0)..<3_000 {
                try txn.put(db, key: key(number), value: [UInt8](repeating: UInt8(number % 251), count: Int(number % 97) * Int(number % 5 == 0 ? 90 : 3)))
            }
        }
        try env.read { txn in
            try txn.withCursor(db) { plain in try txn.withCursor(db) { prefetching in
                var (a, b) = (try plain.first(), try prefetching.first())
                var count = 0
                while let (keyA, valueA) = a {
                    let (keyB, valueB) = try #require(b)
                    #expect(Array(keyA) == Array(keyB) && Array(valueA) == Array(valueB))
                    count += 1
                    (a, b) = (try plain.next(), try prefetching.nextPrefetching())
                }
                #expect(b == nil)
                #expect(count == 3_000)
            } }
        }
    }

    @Test func aForwardCursorStepsToKeysNearAfterItsLastAndSearchesForOthers() throws {
        let env = try open()
        let db = try env.openDatabase("things")
        // Even 8-byte big-endian keys over many leaf pages: steps cross from page to page.
        func key(_ number: UInt64) -> [UInt8] { withUnsafeBytes(of: number.bigEndian) { Array($0) } }
        try env.write { txn in
            for number in stride(from: UInt64(0), to: 20_000, by: 2) {
                try txn.put(db, key: key(number), value: key(number &* 3))
            }
        }
        try env.read { txn in
            func lookUps(_ body: (_ find: (UInt64, Int) throws -> (value: UInt64?, stepped: Bool)) throws -> Void) throws {
                try txn.withCursor(db) { cursor in
                    var forward = ForwardCursor(cursor)
                    try body { number, steps in
                        let (value, stepped) = try key(number).withUnsafeBytes { try forward.value(at: $0, steppingAtMost: steps) }
                        return (value.map { $0.reduce(0) { $0 << 8 | UInt64($1) } }, stepped)
                    }
                }
            }
            try lookUps { find throws in
                // The first lookup searches; every next key, then every other one, is within the
                // steps.
                #expect(try find(10, 4) == (30, false))
                for number in stride(from: UInt64(12), to: 10_000, by: 2) {
                    let found = try find(number, 1)
                    #expect(found.value == number * 3 && found.stepped, "key \(number)")
                }
                for number in stride(from: UInt64(10_002), to: 20_000, by: 4) {
                    let found = try find(number, 2)
                    #expect(found.value == number * 3 && found.stepped, "key \(number)")
                }
            }
            try lookUps { find throws in
                _ = try find(100, 4)
                // An absent key within the steps: nil, and the cursor sits on the entry past it,
                // which the next lookup finds without moving, or passes.
                #expect(try find(103, 4) == (nil, true))
                #expect(try find(104, 0) == (312, true))
                #expect(try find(105, 4) == (nil, true))
                // Without steps, a lookup past the entry the cursor sits on searches.
                #expect(try find(107, 0) == (nil, false))
                #expect(try find(110, 0) == (330, false))
                // Beyond the steps: found by a search, and missing beyond the last key too.
                #expect(try find(5_000, 4) == (15_000, false))
                #expect(try find(5_003, 1) == (nil, false))
                #expect(try find(5_004, 1) == (15_012, true))
                #expect(try find(19_998, 1) == (59_994, false))
                #expect(try find(20_000, 4) == (nil, true))
                #expect(try find(30_000, 4) == (nil, true))
            }
            try lookUps { find throws in
                // Past the last key from the first lookup on.
                #expect(try find(25_000, 4) == (nil, false))
                #expect(try find(25_002, 4) == (nil, true))
            }
        }
    }

    @Test func forwardCursorsOnTwoDatabasesFindKeysThatInterleaveBetweenThem() throws {
        let env = try open()
        let (low, high) = (try env.openDatabase("evens"), try env.openDatabase("odds"))
        func key(_ number: UInt64) -> [UInt8] { withUnsafeBytes(of: number.bigEndian) { Array($0) } }
        // Runs of either kind, as a List page meets running and done operations' records.
        var where_: [UInt64: Bool] = [:]
        var generator = SystemRandomNumberGenerator()
        try env.write { txn in
            var number: UInt64 = 0
            while number < 30_000 {
                let inLow = Bool.random(using: &generator)
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    try txn.put(inLow ? low : high, key: key(number), value: key(number &* 7))
                    where_[number] = inLow
                    number += 1
                }
            }
        }
        try env.read { txn in
            try txn.withCursor(low) { lowCursor in try txn.withCursor(high) { highCursor in
                var cursors = [ForwardCursor(lowCursor), ForwardCursor(highCursor)]
                // Every third key, and some that neither holds.
                for number in stride(from: UInt64(0), to: 31_000, by: 3) {
                    var found: [Int] = []
                    for slot in cursors.indices {
                        let value = try key(number).withUnsafeBytes { try cursors[slot].value(at: $0, steppingAtMost: 4).value }
                        if let value {
                            #expect(value.reduce(0) { $0 << 8 | UInt64($1) } == number * 7)
                            found.append(slot)
                        }
                    }
                    let expected = where_[number].map { [$0 ? 0 : 1] } ?? []
                    #expect(found == expected, "key \(number)")
                }
            } }
        }
    }

    @Test func theMapGrowsWhenFullAndTheWriteIsNotLost() throws {
        let env = try open(initialMapSize: 1 << 20, maximumMapSize: 1 << 30)
        let db = try env.openDatabase("things")
        let value = [UInt8](repeating: 7, count: 4096)
        // 16 MiB in one transaction into a 1 MiB map: grows several times, re-running the closure.
        var runs = 0
        try env.write { txn in
            runs += 1
            for index in 0..<4096 {
                try txn.put(db, key: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }, value: value)
            }
        }
        #expect(runs > 1)
        #expect(env.info.mapSize > 1 << 20)
        let count = try env.read { txn in try txn.count(db) }
        #expect(count == 4096)
    }

    @Test func aFullMapAtItsMaximumFailsWithMapFullAndKeepsEarlierData() throws {
        let env = try open(initialMapSize: 1 << 20, maximumMapSize: 2 << 20)
        let db = try env.openDatabase("things")
        try env.write { txn in try txn.put(db, key: [0], value: [42]) }
        let value = [UInt8](repeating: 7, count: 4096)
        #expect {
            try env.write { txn in
                for index in 1..<2048 {
                    try txn.put(db, key: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }, value: value)
                }
            }
        } throws: { error in
            guard let error = error as? LMDBError, error.kind == .mapFull else { return false }
            return error.description.contains("maximum")
        }
        #expect(try env.read { txn in try txn.get(db, key: [0]).map(Array.init) } == [42])
        #expect(try env.read { txn in try txn.count(db) } == 1)
    }

    @Test func readOnlyEnvironmentsSeeCommittedDataAndCannotCreate() throws {
        do {
            let env = try open()
            let db = try env.openDatabase("things")
            try env.write { txn in try txn.put(db, key: [1], value: [2]) }
        }
        var configuration = Environment.Configuration(path: directory)
        configuration.readOnly = true
        let env = try Environment(configuration: configuration)
        let db = try env.openDatabase("things", create: false)
        #expect(try env.read { txn in try txn.get(db, key: [1]).map(Array.init) } == [2])
        #expect(throws: LMDBError.self) { try env.openDatabase("other", create: false) }
        #expect(try env.databaseNames() == ["things"])
    }

    /// `advise(_:)` reaches the map only if it is found: `mdb_env_info` names its address only
    /// for a fixed map (the first version of the advice read it there and advised nothing).
    @Test func theMapIsFoundForAdviceAndFollowedWhenItGrows() throws {
        let env = try open(initialMapSize: 1 << 20)
        let db = try env.openDatabase("things")
        func check() throws {
            let mapSize = env.info.mapSize  // not inside the read: `info` takes the resize lock too
            try env.read { txn in
                let map = try #require(env.mapRange(txn))
                #expect(map.count >= mapSize)
                let start = UInt(bitPattern: map.start)
                let inside = try #require(try txn.get(db, key: [0])).baseAddress.map { UInt(bitPattern: $0) }
                #expect(inside.map { start <= $0 && $0 < start + UInt(map.count) } == true)
            }
        }
        try env.write { txn in try txn.put(db, key: [0], value: [1, 2, 3]) }
        try check()
        let before = env.info.mapSize
        try env.write { txn in
            for index in 0..<400 { try txn.put(db, key: [1] + withUnsafeBytes(of: index) { Array($0) }, value: [UInt8](repeating: 7, count: 8_000)) }
        }
        #expect(env.info.mapSize > before, "the map grew")
        try check()
        env.advise(.random)
        env.advise(.normal)
        #expect(try env.read { txn in try txn.get(db, key: [0]).map(Array.init) } == [1, 2, 3])
    }

    @Test func openingANonDirectoryFailsWithASystemError() throws {
        let configuration = Environment.Configuration(path: directory + "/does/not/exist")
        #expect {
            try Environment(configuration: configuration)
        } throws: { error in
            guard case .system(let errno)? = (error as? LMDBError)?.kind else { return false }
            return errno == ENOENT
        }
    }
}
