@testable import LongrunEngine
import LongrunTestSupport
import Testing

/// When the engine takes a snapshot by itself (``LongrunEngine/Configuration/snapshotLogRatio``):
/// in proportion to the log written since the last one, never by a fixed count that would rewrite a
/// large store over and over.
@Suite("Engine: the snapshot schedule")
struct SnapshotScheduleTests {
    /// Full snapshots unless `differentials` (the cases written before differentials are of full
    /// snapshots: what the ratio measures against when every record may have changed).
    func due(_ configure: (inout LongrunEngine.Configuration) -> Void, differentials: Bool = false, events: UInt64, lastBytes: UInt64, bytesPerEvent: Double,
             lastRecords: Int = 0, lastEntries: Int? = nil, records: Int = 0, pageBytes: Int = 0, lastAge: Duration = .zero) throws -> Bool {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.path) { configuration in
            configuration.snapshotDifferentials = differentials
            configure(&configuration)
        }
        defer { engine.close() }
        let last = LongrunEngine.LastSnapshot(sequence: 1_000, bytes: lastBytes, records: lastRecords, entries: lastEntries, at: .now - lastAge)
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

    @Test func withDifferentialsTheSnapshotToWriteIsWhatChangedSinceTheBase() throws {
        let mib: UInt64 = 1 << 20
        // 1M records, the last snapshot a full one of 100 MiB: 100k events since changed at most 100k
        // operations, a differential of about 10 MiB, so the ratio asks for 40 MiB of log, and the
        // minimum for 64 MiB; a full one would have waited for 400 MiB.
        #expect(try !due({ _ in }, differentials: true, events: 65_535, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        #expect(try due({ _ in }, differentials: true, events: 65_536, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        #expect(try !due({ _ in }, events: 65_536, lastBytes: 100 * mib, bytesPerEvent: 1_024, lastRecords: 1_000_000, records: 1_000_000))
        // The last one a differential of 100k entries in 10 MiB: the next holds those and one per event
        // at most, 4 times that at 1 KiB an event is 69,377 events.
        #expect(try !due({ _ in }, differentials: true, events: 69_376, lastBytes: 10 * mib, bytesPerEvent: 1_024,
                         lastRecords: 1_000_000, lastEntries: 100_000, records: 1_000_000))
        #expect(try due({ _ in }, differentials: true, events: 69_377, lastBytes: 10 * mib, bytesPerEvent: 1_024,
                        lastRecords: 1_000_000, lastEntries: 100_000, records: 1_000_000))
        // Once half the records may have changed, the next is a full one again, and so is its size:
        // 256 MB of log outgrow a differential of 500k records (4 x 52 MB), not a full one (4 x 105 MB).
        #expect(try due({ _ in }, differentials: true, events: 499_999, lastBytes: 100 * mib, bytesPerEvent: 512,
                        lastRecords: 1_000_000, records: 1_000_000))
        #expect(try !due({ _ in }, differentials: true, events: 500_000, lastBytes: 100 * mib, bytesPerEvent: 512,
                         lastRecords: 1_000_000, records: 1_000_000))
    }

    @Test func theScheduleEstimatesADifferentialOnlyWhenFewerThanHalfTheRecordsCanHaveChanged() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.path)
        defer { engine.close() }
        #expect(engine.configuration.snapshotDifferentials, "on by default")
        func estimate(events: UInt64, lastEntries: Int?, records: Int = 1_000, lastBytes: UInt64 = 100_000) -> (differential: Bool, bytes: Double) {
            let last = LongrunEngine.LastSnapshot(sequence: 10, bytes: lastBytes, records: 1_000, entries: lastEntries, at: .now)
            return engine.nextSnapshotEstimate(events: events, last: last, source: (records, 40_000))
        }
        // After a full snapshot of 100 bytes a record: one per event.
        #expect(estimate(events: 499, lastEntries: nil) == (true, 49_900))
        #expect(estimate(events: 500, lastEntries: nil) == (false, 100_000))
        // After a differential of 200 entries (500 bytes each): those and one per event.
        #expect(estimate(events: 299, lastEntries: 200) == (true, 499 * 500))
        #expect(estimate(events: 300, lastEntries: 200) == (false, 1_000 * 500))
        // The records now count: a store that grew.
        #expect(estimate(events: 600, lastEntries: nil, records: 1_300).differential)
        // No snapshot yet: a full one, estimated from the records' pages.
        #expect(estimate(events: 1, lastEntries: nil, lastBytes: 0) == (false, 10_000))
    }

    @Test func differentialsCanBeTurnedOff() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.path) { $0.snapshotDifferentials = false }
        defer { engine.close() }
        let last = LongrunEngine.LastSnapshot(sequence: 10, bytes: 100_000, records: 1_000, at: .now)
        #expect(engine.nextSnapshotEstimate(events: 1, last: last, source: (1_000, 0)) == (false, 100_000))
    }
}
