import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// The start-up check reads the log ahead on threads of its own (``Store/readLogAhead(from:through:)``):
/// it must find what a check without them finds, and end them whatever it finds.
@Suite("Store: reading the log ahead of a check")
struct ReadAheadTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)

    /// `count` operations created in batches of 500, one in 50 with a payload large enough for
    /// LMDB's overflow pages.
    func populated(_ directory: String, count: Int) throws -> Store {
        let store = try Store(directory: directory, logger: logger)
        for batch in stride(from: 0, to: count, by: 500) {
            try store.write { writer in
                for index in batch..<min(batch + 500, count) {
                    let text = index % 50 == 7 ? String(repeating: "x", count: 9_000) : "op \(index)"
                    try writer.append([.init(actor: Fixtures.producer, kind: .created(.init(metadata: Fixtures.payload("M", text), requestID: "r\(index)")))],
                                      name: try OperationName(parsing: "operations/op-\(index)"), time: t0 + .seconds(index))
                }
            }
        }
        return store
    }

    func tamper(_ store: Store, _ sequence: UInt64) throws {
        try store.environment.write { txn in
            var value = Array(try #require(try txn.get(store.schema.log, key: Keys.sequence(sequence))))
            value[value.count - 3] ^= 0x01
            try txn.put(store.schema.log, key: Keys.sequence(sequence), value: value)
        }
    }

    @Test func aCheckReadingAheadReportsWhatOneWithoutFinds() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"), count: 6_000)
        for start: UInt64? in [nil, 2, 4_321] {
            let plain = try store.verifyLog(from: start)
            let ahead = try store.verifyLog(from: start, readingAhead: .always)
            #expect(ahead.problem == nil)
            #expect(ahead.report.events == plain.report.events)
            #expect(ahead.report.headHash == plain.report.headHash)
            #expect(ahead.report.headSequence == 6_000)
        }
    }

    @Test(arguments: [300 as UInt64, 3_000, 5_999])
    func aDamagedEventIsFoundAtItsSequenceWhereverTheThreadsAre(_ damaged: UInt64) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"), count: 6_000)
        try tamper(store, damaged)
        // Found early, the check ends the threads that read far ahead of it before returning.
        let problem = try #require(try store.verifyLog(from: 1, readingAhead: .always).problem)
        #expect(problem.sequence == damaged)
        #expect(problem.kind == .brokenChain)
    }

    @Test func theOpenStillRefusesADamagedRecentLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try populated(directory.child("data"), count: 3_000)
            try tamper(store, 2_222)
        }
        #expect {
            try Store(directory: directory.child("data"), logger: logger)
        } throws: { error in
            (error as? StoreError)?.kind == .dataLoss && (error as? StoreError)?.message.contains("event 2222") == true
        }
    }

    @Test func shortRangesAreWalkedWithoutThreads() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"), count: 1_500)
        #expect(store.readLogAhead(from: 1, through: 1_000) == nil)
        #expect(store.readLogAhead(from: 1_500, through: 1_400) == nil)
        let ahead = try #require(store.readLogAhead(from: 1, through: 1_500))
        ahead.finish()
    }
}
