import Foundation
import LongrunDomain
import LongrunEngine
import LongrunStore
import LongrunTestSupport
import Testing

@Suite("Engine: retention, holds and log compaction")
struct RetentionTests {
    @Test(arguments: TestBackend.available)
    func doneOperationsExpireByOutcomeUnlessHeld(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock) {
                $0.retention = RetentionPolicy(succeeded: .seconds(60), failed: .seconds(3600), cancelled: nil)
            }
            defer { engine.close() }
            let ok = try await engine.create(CreateRequest(id: "ok"), actor: Fixtures.producer)
            let held = try await engine.create(CreateRequest(id: "held"), actor: Fixtures.producer)
            let failed = try await engine.create(CreateRequest(id: "failed"), actor: Fixtures.producer)
            let running = try await engine.create(CreateRequest(id: "running"), actor: Fixtures.producer)
            for name in [ok.name, held.name] { _ = try await engine.complete(name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }
            _ = try await engine.complete(failed.name, outcome: .error(Status(.internal, "x")), actor: Fixtures.producer)
            _ = try await engine.hold(held.name, reason: "audit", actor: Fixtures.consumer)

            clock.advance(by: .seconds(59))
            #expect(try await engine.enforceRetention() == 0)
            clock.advance(by: .seconds(1))
            #expect(try await engine.enforceRetention() == 1)
            await #expect(throws: DomainError.self) { _ = try await engine.get(ok.name) }
            #expect(try await engine.get(held.name).done)
            #expect(try await engine.get(failed.name).done)
            #expect(!(try await engine.get(running.name).done))
            #expect(try await engine.history(of: ok.name).events.map(\.kind.label) == ["created", "completed", "expired"])
            #expect(try await engine.list(ListRequest(pageSize: 100)).operations.map(\.name.id) == ["held", "failed", "running"])

            _ = try await engine.release(held.name, reason: "closed", actor: Fixtures.consumer)
            #expect(try await engine.enforceRetention() == 1)
            #expect(try await engine.history(of: held.name).events.map(\.kind.label) == ["created", "completed", "hold_set", "hold_released", "expired"])
            clock.advance(by: .seconds(3600))
            #expect(try await engine.enforceRetention() == 1)
            #expect(try await engine.list(ListRequest(pageSize: 100)).operations.map(\.name.id) == ["running"])
        }
    }

    @Test(arguments: TestBackend.available)
    func anAdministratorsHoldDoesNotFailTheProducersNextUpdate(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            let created = try await engine.create(CreateRequest(id: "build"), actor: Fixtures.producer)
            let seen = try await engine.progress(created.name, metadata: Fixtures.payload("M", "1"), actor: Fixtures.producer).version
            _ = try await engine.hold(created.name, reason: "audit", actor: Fixtures.consumer)
            #expect(try await engine.get(created.name).version == seen)
            _ = try await engine.progress(created.name, metadata: Fixtures.payload("M", "2"), expectedVersion: seen, actor: Fixtures.producer)
            _ = try await engine.release(created.name, reason: "closed", actor: Fixtures.consumer)
            let completed = try await engine.complete(created.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            #expect(completed.version == seen + 2)
            let kinds = try await engine.history(of: created.name).events.map(\.kind.label)
            #expect(kinds == ["created", "progressed", "hold_set", "progressed", "hold_released", "completed"])
            engine.close()
            // The views folded event by event are the ones a reopen (or a replay) leaves.
            let reopened = try await place.openEngine()
            defer { reopened.close() }
            #expect(try await reopened.get(created.name) == completed)
        }
    }

    @Test func theBackgroundWorkCompactsOnceASnapshotIsOldEnough() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let engine = try Fixtures.openEngine(directory.child("data"), clock: clock) {
                $0.compactLogOlderThan = .seconds(3600)
                $0.compactionCheckInterval = .milliseconds(10)
            }
            defer { engine.close() }
            let old = try await engine.create(CreateRequest(id: "old"), actor: Fixtures.producer)
            _ = try await engine.progress(old.name, metadata: nil, actor: Fixtures.producer)
            #expect(try await engine.takeSnapshot().sequence == 2)
            clock.advance(by: .seconds(7200))
            _ = try await engine.create(CreateRequest(id: "young"), actor: Fixtures.producer)
            // No new snapshot is due (the log is tiny): the snapshot of two hours ago is what lets
            // the background work compact the log.
            let runner = Task { try await engine.run() }
            defer { runner.cancel() }
            var compacted = false
            for _ in 0..<1000 where !compacted {
                compacted = (try? await engine.events(after: 0, limit: 10)) == nil
                if !compacted { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(compacted)
            #expect(try await engine.events(after: 2, limit: 10).map(\.sequence) == [3])
        }
    }

    /// A deleted operation's name stays taken while its history is kept, and is free once
    /// compaction dropped all of it (docs/API.md): otherwise retention could not bound the store.
    @Test func compactionForgetsADeletedOperationSoItsNameCanBeCreatedAgain() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let engine = try Fixtures.openEngine(directory.child("data"), clock: clock) { $0.compactLogOlderThan = .seconds(3600) }
            defer { engine.close() }
            let gone = try await engine.create(CreateRequest(id: "gone", requestID: "r-gone"), actor: Fixtures.producer)
            try await engine.delete(gone.name, actor: Fixtures.producer)
            await #expect(throws: DomainError.self) { try await engine.create(CreateRequest(id: "gone"), actor: Fixtures.producer) }
            #expect(try await engine.takeSnapshot().sequence == 2)
            clock.advance(by: .seconds(7200))
            _ = try await engine.create(CreateRequest(id: "young"), actor: Fixtures.producer)
            #expect(try await engine.compactLogIfDue() == 2)

            let again = try await engine.create(CreateRequest(id: "gone", requestID: "r-gone"), actor: Fixtures.producer)
            #expect(again.name == gone.name && again.version == 1 && again.createSequence == 4)
            #expect(try await engine.get(gone.name) == again)
        }
    }

    @Test func compactionDropsSnapshottedLogAndHistoryBeforeItIsOutOfRange() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let engine = try Fixtures.openEngine(directory.child("data"), clock: clock) { $0.compactLogOlderThan = .seconds(3600) }
            defer { engine.close() }
            let old = try await engine.create(CreateRequest(id: "old"), actor: Fixtures.producer)
            for _ in 0..<3 { _ = try await engine.progress(old.name, metadata: nil, actor: Fixtures.producer) }
            let snapshot = try await engine.takeSnapshot()
            #expect(snapshot.sequence == 4)
            #expect(try await engine.compactLogIfDue() == 0, "nothing is older than an hour yet")
            clock.advance(by: .seconds(7200))
            let young = try await engine.create(CreateRequest(id: "young"), actor: Fixtures.producer)
            #expect(try await engine.compactLogIfDue() == 4)

            // The old operation is still served; its history and the log before the cut are not.
            #expect(try await engine.get(old.name).version == 4)
            await #expect {
                try await engine.history(of: old.name)
            } throws: { ($0 as? DomainError)?.reason == .historyCompacted }
            #expect(try await engine.history(of: young.name).events.count == 1)
            await #expect {
                try await engine.events(after: 0, limit: 10)
            } throws: { ($0 as? DomainError)?.reason == .sequenceCompacted }
            #expect(try await engine.events(after: 4, limit: 10).map(\.sequence) == [5])
            _ = try await engine.progress(old.name, metadata: nil, actor: Fixtures.producer)

            // The remaining chain still verifies, and a rebuild starts from the snapshot.
            let store = try Store(directory: directory.child("data"), configuration: { var c = Store.Configuration(); c.readOnly = true; return c }(),
                                  logger: Fixtures.quietLogger)
            let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: Fixtures.quietLogger)
            #expect(report.isHealthy, "\(report.problems)")
            #expect(report.firstSequence == 5)
        }
    }

    /// Issue 16: with retention and compaction, a snapshot after a few expiries is a differential on
    /// the last full one, the log is compacted through it, and the store still verifies from it.
    @Test func aSnapshotAfterAFewExpiriesIsADifferentialAndCompactionGoesThroughIt() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let engine = try Fixtures.openEngine(directory.child("data"), clock: clock) {
                $0.retention = RetentionPolicy(succeeded: .seconds(60), failed: nil, cancelled: nil)
                $0.compactLogOlderThan = .seconds(3600)
            }
            defer { engine.close() }
            var names: [OperationName] = []
            for index in 0..<10 { names.append(try await engine.create(CreateRequest(id: "op-\(index)"), actor: Fixtures.producer).name) }
            for name in names.prefix(4) { _ = try await engine.complete(name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }
            let full = try await engine.takeSnapshot()
            #expect(!full.isDifferential)
            clock.advance(by: .seconds(120))
            #expect(try await engine.enforceRetention() == 4)
            _ = try await engine.create(CreateRequest(id: "late"), actor: Fixtures.producer)
            // 5 of 11 records changed since the full one: a differential on it.
            let differential = try await engine.takeSnapshot()
            #expect(differential.baseSequence == full.sequence)
            #expect(try SnapshotFile.verify(differential.path).records == 5)
            // Asked for a full one, the engine writes one.
            _ = try await engine.progress(names[9], metadata: nil, actor: Fixtures.producer)
            let forced = try await engine.takeSnapshot(kind: .full)
            #expect(!forced.isDifferential)
            _ = try await engine.progress(names[8], metadata: nil, actor: Fixtures.producer)
            #expect(try await engine.takeSnapshot().baseSequence == forced.sequence, "on the newest full one")

            clock.advance(by: .seconds(7200))
            _ = try await engine.create(CreateRequest(id: "young"), actor: Fixtures.producer)
            #expect(try await engine.compactLogIfDue() > 0)
            let store = try Store(directory: directory.child("data"), configuration: { var c = Store.Configuration(); c.readOnly = true; return c }(),
                                  logger: Fixtures.quietLogger)
            #expect(try store.usableSnapshot(upTo: .max)?.isDifferential == true)
            let report = try store.verify(scratchDirectory: directory.child("scratch"), logger: Fixtures.quietLogger)
            #expect(report.isHealthy, "\(report.problems)")
        }
    }

    /// A differential's base is read only by the scrub, compaction and restores: once a scrub found
    /// the newest full snapshot damaged, the next snapshot is a full one, not a differential on it.
    @Test func afterTheScrubFoundTheBaseDamagedTheNextSnapshotIsFull() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.child("data"))
            defer { engine.close() }
            var names: [OperationName] = []
            for index in 0..<10 { names.append(try await engine.create(CreateRequest(id: "op-\(index)"), actor: Fixtures.producer).name) }
            let full = try await engine.takeSnapshot()
            _ = try await engine.progress(names[0], metadata: nil, actor: Fixtures.producer)
            #expect(try await engine.takeSnapshot().baseSequence == full.sequence)
            var bytes = try #require(FileManager.default.contents(atPath: full.path))
            bytes[100] ^= 0xFF
            #expect(FileManager.default.createFile(atPath: full.path, contents: bytes))
            #expect(try await engine.scrub().findings.contains { $0.kind == .snapshotDamaged && $0.database == full.path })
            _ = try await engine.progress(names[1], metadata: nil, actor: Fixtures.producer)
            #expect(try await !engine.takeSnapshot().isDifferential)
        }
    }
}
