@testable import LongrunEngine
import LongrunTestSupport
import Testing

/// When the engine takes a snapshot by itself (``LongrunEngine/Configuration/snapshotLogRatio``):
/// in proportion to the log written since the last one, never by a fixed count that would rewrite a
/// large store over and over.
@Suite("Engine: the snapshot schedule")
struct SnapshotScheduleTests {
    func due(_ configure: (inout LongrunEngine.Configuration) -> Void, events: UInt64, lastBytes: UInt64, bytesPerEvent: Double,
             lastRecords: Int = 0, records: Int = 0, pageBytes: Int = 0, lastAge: Duration = .zero) throws -> Bool {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.path, configure: configure)
        defer { engine.close() }
        let last = LongrunEngine.LastSnapshot(sequence: 1_000, bytes: lastBytes, records: lastRecords, at: .now - lastAge)
        return engine.snapshotDue(applied: 1_000 + events, last: last, logBytesPerEvent: bytesPerEvent, source: (records, pageBytes))
    }

    @Test func aSnapshotIsDueOnceTheLogGrewByFourTimesTheSnapshotToWrite() throws {
        let mib: UInt64 = 1 << 20
        // Last snapshot 100 MiB of 1M records, still 1M: due at 400 MiB of log, whatever the number of events.
        #expect(try !due({ _ in }, events: 409_599, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        #expect(try due({ _ in }, events: 409_600, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        #expect(try due({ _ in }, events: 204_800, lastBytes: 100 * mib, bytesPerEvent: 2_048, lastRecords: 1_000_000, records: 1_000_000))
        // A small store: 64 MiB of log at least, so a snapshot is never taken for a few events.
        #expect(try !due({ _ in }, events: 65_535, lastBytes: 0, bytesPerEvent: 1_024))
        #expect(try due({ _ in }, events: 65_536, lastBytes: 0, bytesPerEvent: 1_024))
        // A growing store: what counts is the snapshot about to be written (the records now, at the
        // last snapshot's bytes per record), so that each stays within a quarter of the log before it.
        #expect(try !due({ _ in }, events: 409_600, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_500_000))
        #expect(try due({ _ in }, events: 614_400, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_500_000))
        // Before any snapshot: a quarter of the records' pages (400 MiB of pages: due at 400 MiB of log).
        #expect(try !due({ _ in }, events: 409_599, lastBytes: 0, bytesPerEvent: 1_024, records: 1_000_000, pageBytes: Int(400 * mib)))
        #expect(try due({ _ in }, events: 409_600, lastBytes: 0, bytesPerEvent: 1_024, records: 1_000_000, pageBytes: Int(400 * mib)))
        // Nothing committed since: never due.
        #expect(try !due({ _ in }, events: 0, lastBytes: 0, bytesPerEvent: 1_024))
    }

    @Test func withCompactionASnapshotComesAtLeastOnceACompactionAge() throws {
        let mib: UInt64 = 1 << 20
        let compacting: (inout LongrunEngine.Configuration) -> Void = { $0.compactLogOlderThan = .seconds(60) }
        // The ratio is the same with compaction on (a snapshot holds records, which do not grow with the log)...
        #expect(try due(compacting, events: 409_600, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        #expect(try !due(compacting, events: 102_400, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000,
                         lastAge: .seconds(59)))
        // ...but a store whose log never reaches four times its records (little log per operation)
        // still gets a snapshot once the last is as old as the compaction age, so the log can be compacted.
        #expect(try due(compacting, events: 102_400, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000,
                        lastAge: .seconds(60)))
        #expect(try !due({ _ in }, events: 102_400, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000,
                         lastAge: .seconds(3600)))
        // Still 64 MiB of log at least.
        #expect(try !due(compacting, events: 65_535, lastBytes: 0, bytesPerEvent: 1_024, lastAge: .seconds(3600)))
    }

    @Test func theCountAndTimeCadencesAreOptInAndTheRatioCanBeTurnedOff() throws {
        #expect(try !due({ $0.snapshotLogRatio = nil }, events: 10_000_000, lastBytes: 0, bytesPerEvent: 1_024))
        #expect(try due({ $0.snapshotLogRatio = nil; $0.snapshotEveryEvents = 500 }, events: 500, lastBytes: 0, bytesPerEvent: 1))
        #expect(try due({ $0.snapshotLogRatio = nil; $0.snapshotInterval = .zero }, events: 1, lastBytes: 0, bytesPerEvent: 1))
    }
}
