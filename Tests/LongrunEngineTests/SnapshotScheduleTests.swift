@testable import LongrunEngine
import LongrunTestSupport
import Testing

/// When the engine takes a snapshot by itself (``LongrunEngine/Configuration/snapshotLogRatio``):
/// in proportion to the log written since the last one, never by a fixed count that would rewrite a
/// large store over and over.
@Suite("Engine: the snapshot schedule")
struct SnapshotScheduleTests {
    func due(_ configure: (inout LongrunEngine.Configuration) -> Void, events: UInt64, lastBytes: UInt64, bytesPerEvent: Double,
             recordsBytes: Int = 0) throws -> Bool {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.path, configure: configure)
        defer { engine.close() }
        let last = LongrunEngine.LastSnapshot(sequence: 1_000, bytes: lastBytes, at: .now)
        return engine.snapshotDue(applied: 1_000 + events, last: last, logBytesPerEvent: bytesPerEvent, recordsBytes: recordsBytes)
    }

    @Test func aSnapshotIsDueOnceTheLogGrewByFourTimesTheSnapshotToWrite() throws {
        let mib: UInt64 = 1 << 20
        // Last snapshot 100 MiB: due at 400 MiB of log, whatever the number of events.
        #expect(try !due({ _ in }, events: 409_599, lastBytes: 100 * mib, bytesPerEvent: 1_024))
        #expect(try due({ _ in }, events: 409_600, lastBytes: 100 * mib, bytesPerEvent: 1_024))
        #expect(try due({ _ in }, events: 204_800, lastBytes: 100 * mib, bytesPerEvent: 2_048))
        // A small store: 64 MiB of log at least, so a snapshot is never taken for a few events.
        #expect(try !due({ _ in }, events: 65_535, lastBytes: 0, bytesPerEvent: 1_024))
        #expect(try due({ _ in }, events: 65_536, lastBytes: 0, bytesPerEvent: 1_024))
        // A growing store: what counts is the snapshot about to be written (the records now), so that
        // each snapshot stays within a quarter of the log written before it.
        #expect(try !due({ _ in }, events: 409_600, lastBytes: 100 * mib, bytesPerEvent: 1_024, recordsBytes: Int(150 * mib)))
        #expect(try due({ _ in }, events: 614_400, lastBytes: 100 * mib, bytesPerEvent: 1_024, recordsBytes: Int(150 * mib)))
        // Nothing committed since: never due.
        #expect(try !due({ _ in }, events: 0, lastBytes: 0, bytesPerEvent: 1_024))
    }

    @Test func withCompactionTheRatioIsTheSame() throws {
        let mib: UInt64 = 1 << 20
        // A snapshot holds the records, which do not grow with the log (the history index, which
        // does, is not in it): the log outgrows four times them with compaction on as well.
        let compacting: (inout LongrunEngine.Configuration) -> Void = { $0.compactLogOlderThan = .seconds(60) }
        #expect(try !due(compacting, events: 409_599, lastBytes: 0, bytesPerEvent: 1_024, recordsBytes: Int(100 * mib)))
        #expect(try due(compacting, events: 409_600, lastBytes: 0, bytesPerEvent: 1_024, recordsBytes: Int(100 * mib)))
        // Still 64 MiB of log at least.
        #expect(try !due(compacting, events: 65_535, lastBytes: 0, bytesPerEvent: 1_024, recordsBytes: Int(mib)))
    }

    @Test func theCountAndTimeCadencesAreOptInAndTheRatioCanBeTurnedOff() throws {
        #expect(try !due({ $0.snapshotLogRatio = nil }, events: 10_000_000, lastBytes: 0, bytesPerEvent: 1_024))
        #expect(try due({ $0.snapshotLogRatio = nil; $0.snapshotEveryEvents = 500 }, events: 500, lastBytes: 0, bytesPerEvent: 1))
        #expect(try due({ $0.snapshotLogRatio = nil; $0.snapshotInterval = .zero }, events: 1, lastBytes: 0, bytesPerEvent: 1))
    }
}
