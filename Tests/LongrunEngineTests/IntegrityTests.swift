import LMDB
import LongrunDomain
@testable import LongrunEngine
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// The engine never serves a damaged record, keeps serving the rest, and repairs from the log.
@Suite("Engine: integrity")
struct EngineIntegrityTests {
    /// Flips one bit in the stored record of `name`.
    func damage(_ engine: LongrunEngine, _ name: OperationName) throws {
        let store = try #require(engine.lmdb)
        let createSequence = try #require(try store.read { try $0.operation(name) }).createSequence
        let database = try #require(try store.read { try $0.record(Keys.name(name)) }).database
        try store.environment.write { txn in
            let key = Keys.sequence(createSequence)
            var value = Array(try #require(try txn.get(database, key: key)))
            value[value.count / 2] ^= 0x20
            try txn.put(database, key: key, value: value)
        }
    }

    @Test func aDamagedOperationAnswersDataLossWhileTheOthersAreServedAndWritten() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let victim = try await engine.create(CreateRequest(id: "victim", metadata: Fixtures.payload("M", "v")), actor: Fixtures.producer)
            let healthy = try await engine.create(CreateRequest(id: "healthy"), actor: Fixtures.producer)
            try damage(engine, victim.name)

            await #expect { try await engine.get(victim.name) } throws: { ($0 as? StoreError)?.damage?.operation == victim.name }
            #expect(try await engine.get(healthy.name).name == healthy.name)
            // A write that would read the damaged record fails alone; others commit.
            let refused = Task { try await engine.progress(victim.name, metadata: nil, actor: Fixtures.producer) }
            let accepted = Task { try await engine.progress(healthy.name, metadata: Fixtures.payload("M", "50%"), actor: Fixtures.producer) }
            await #expect { _ = try await refused.value } throws: { ($0 as? StoreError)?.kind == .dataLoss }
            #expect(try await accepted.value.version == 2)

            let status = engine.integrityStatus
            #expect(status.damagedReads == 2)
            #expect(status.findings.map(\.operation) == [victim.name])
        }
    }

    @Test func scrubFindsAndRepairRestoresAndRecordsTheRepair() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let victim = try await engine.create(CreateRequest(id: "victim", metadata: Fixtures.payload("M", "v")), actor: Fixtures.producer)
            let before = try await engine.progress(victim.name, metadata: Fixtures.payload("M", "w"), actor: Fixtures.producer)
            try damage(engine, victim.name)

            let found = try await engine.scrub()
            #expect(found.passes == 1)
            #expect(found.findings.contains { $0.kind == .damagedRecord && $0.operation == victim.name })

            await #expect { _ = try await engine.repair(actor: Fixtures.consumer, access: .owner(uid: 1001, readsOwnOnly: false)) }
                throws: { ($0 as? DomainError)?.kind == .permissionDenied }
            let report = try await engine.repair(actor: Fixtures.consumer)
            #expect(report.repaired == [victim.name])
            #expect(report.remaining.isEmpty)
            #expect(engine.integrityStatus.findings.isEmpty)
            let after = try await engine.get(victim.name)
            #expect(after.metadata == before.metadata && after.version == before.version)
            let history = try await engine.history(of: victim.name)
            #expect(history.events.last?.kind == .repaired(detail: "damaged_record in operations_by_creation"))
            #expect(history.events.last?.actor == Fixtures.consumer)
            // The producer's expected version still holds after the repair.
            #expect(try await engine.progress(victim.name, metadata: nil, expectedVersion: before.version, actor: Fixtures.producer).version == before.version + 1)
            #expect(try await engine.scrub().findings.isEmpty)
            // A clean pass checkpoints the verified log, so the next start checks only what follows.
            #expect(try engine.lmdb!.read { try $0.verifiedLog()?.sequence } == (try await engine.appliedSequence()))
        }
    }

    @Test func aRunningEngineChecksTheLogOnceEnoughWasWrittenWithoutWaitingForTheInterval() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path) {
                $0.logCheckpointInterval = .seconds(3600)
                $0.logCheckpointEvents = 8
                $0.scrubInterval = nil
            }
            defer { engine.close() }
            for index in 0..<10 { _ = try await engine.create(CreateRequest(id: "op-\(index)"), actor: Fixtures.producer) }
            let applied = try await engine.appliedSequence()
            #expect(try engine.lmdb!.read { try $0.verifiedLog()?.sequence } ?? 0 < applied)
            let runner = Task { try await engine.run() }
            defer { runner.cancel() }
            // Generous bound: this waits for the check to happen, it does not time it.
            for _ in 0..<600 where try engine.lmdb!.read({ try $0.verifiedLog()?.sequence }) != applied {
                try await Task.sleep(for: .milliseconds(50))
            }
            // So a restart now checks nothing of what was written before.
            #expect(try engine.lmdb!.read { try $0.verifiedLog()?.sequence } == applied)
        }
    }

    @Test func theBackgroundScrubRunsPassesByItself() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path) {
                $0.scrubInterval = .milliseconds(50)
                $0.scrubFirstDelay = .zero
                $0.snapshotInterval = nil
                $0.snapshotEveryEvents = nil
            }
            defer { engine.close() }
            let victim = try await engine.create(CreateRequest(id: "victim"), actor: Fixtures.producer)
            try damage(engine, victim.name)
            let runner = Task { try await engine.run() }
            defer { runner.cancel() }
            // Generous bound: this waits for the pass to happen, it does not time it.
            for _ in 0..<600 where engine.integrityStatus.passes == 0 { try await Task.sleep(for: .milliseconds(50)) }
            let status = engine.integrityStatus
            #expect(status.passes >= 1)
            #expect(status.findings.contains { $0.operation == victim.name })
            #expect(status.recordsChecked > 0)
        }
    }
}
