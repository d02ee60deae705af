import LongrunDomain
import LongrunEngine
import LongrunPostgres
import LongrunStore
import LongrunTestSupport
import Testing

/// Leases through the real store and the engine's deadline sweep, on every backend.
@Suite("Engine: leases")
struct LeaseEngineTests {
    static func isLeaseExpiry(_ outcome: Outcome?) -> Bool {
        guard case .error(let status)? = outcome else { return false }
        return status.code == StatusCode.aborted.rawValue
            && status.details.contains(ErrorInfo(reason: .producerLeaseExpired, metadata: ["uid": "1000", "pid": "4242"]).payload)
    }

    @Test(arguments: TestBackend.available)
    func anUnrenewedLeaseEndsTheOperationAbortedAndARenewedOneRuns(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            let dead = try await engine.create(CreateRequest(id: "dead", leaseTTL: .seconds(10)), actor: Fixtures.producer)
            let alive = try await engine.create(CreateRequest(id: "alive", leaseTTL: .seconds(10)), actor: Fixtures.producer)
            let plain = try await engine.create(CreateRequest(id: "plain"), actor: Fixtures.producer)
            #expect(dead.lease == .init(holder: Fixtures.producer, ttl: .seconds(10), expireTime: clock.now() + .seconds(10)))
            #expect(try await engine.enforceDeadlines() == clock.now() + .seconds(10))

            clock.advance(by: .seconds(6))
            let renewed = try await engine.heartbeat(alive.name, actor: Fixtures.producer)
            #expect(renewed.version == alive.version)
            #expect(renewed.lease?.expireTime == clock.now() + .seconds(10))
            clock.advance(by: .seconds(3))
            try await engine.enforceDeadlines()
            #expect(try await engine.get(dead.name).done == false)

            clock.advance(by: .seconds(1))
            let next = try await engine.enforceDeadlines()
            let ended = try await engine.get(dead.name)
            #expect(Self.isLeaseExpiry(ended.outcome), "\(String(describing: ended.outcome))")
            #expect(ended.lease == nil)
            #expect(try await engine.get(alive.name).done == false)
            #expect(try await engine.get(plain.name).done == false)
            #expect(next == clock.now() + .seconds(6))
            let history = try await engine.history(of: dead.name, pageSize: 10).events
            #expect(history.last?.actor.label == Actor.engine.label)

            // Progress renews too; an operation done in time keeps its own result.
            clock.advance(by: .seconds(5))
            _ = try await engine.progress(alive.name, metadata: nil, expectedVersion: 1, actor: Fixtures.producer)
            clock.advance(by: .seconds(9))
            try await engine.enforceDeadlines()
            #expect(try await engine.get(alive.name).done == false)
            _ = try await engine.complete(alive.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            clock.advance(by: .seconds(60))
            #expect(try await engine.enforceDeadlines() == nil)
            #expect(try await engine.get(alive.name).outcome == .response(Fixtures.payload("R")))
        }
    }

    @Test(arguments: TestBackend.available)
    func heartbeatsAreLoggedButNoVersionAndRefusedWithReasons(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(30)), actor: Fixtures.producer)
            for _ in 0..<3 {
                clock.advance(by: .seconds(1))
                _ = try await engine.heartbeat(leased.name, actor: Fixtures.producer)
            }
            let kinds = try await engine.history(of: leased.name, pageSize: 10).events.map(\.kind.label)
            #expect(kinds == ["created", "lease_renewed", "lease_renewed", "lease_renewed"])
            _ = try await engine.progress(leased.name, metadata: nil, expectedVersion: 1, actor: Fixtures.producer)

            let plain = try await engine.create(CreateRequest(id: "plain"), actor: Fixtures.producer)
            await expectDomainError(.failedPrecondition, .noLease) { _ = try await engine.heartbeat(plain.name, actor: Fixtures.producer) }
            _ = try await engine.complete(leased.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            await expectDomainError(.failedPrecondition, .operationAlreadyDone) { _ = try await engine.heartbeat(leased.name, actor: Fixtures.producer) }
            await expectDomainError(.notFound, .operationNotFound) {
                _ = try await engine.heartbeat(try OperationName(parsing: "operations/none"), actor: Fixtures.producer)
            }
            await expectDomainError(.invalidArgument, .invalidLease) {
                _ = try await engine.create(CreateRequest(id: "short", leaseTTL: .milliseconds(10)), actor: Fixtures.producer)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func adoptionHandsTheLeaseOverAtTheExpectedVersion(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            let created = try await engine.create(CreateRequest(id: "job", leaseTTL: .seconds(10)), actor: Fixtures.producer)
            let successor = Actor(uid: 1000, pid: 5555, label: "successor")
            clock.advance(by: .seconds(8))
            await expectDomainError(.aborted, .versionMismatch) {
                _ = try await engine.adopt(created.name, expectedVersion: 7, actor: successor, access: .owner(uid: 1000, readsOwnOnly: false))
            }
            await expectDomainError(.permissionDenied) {
                _ = try await engine.adopt(created.name, expectedVersion: 1, actor: Fixtures.consumer, access: .owner(uid: 2000, readsOwnOnly: false))
            }
            let adopted = try await engine.adopt(created.name, expectedVersion: 1, leaseTTL: .seconds(20), actor: successor,
                                                 access: .owner(uid: 1000, readsOwnOnly: false))
            #expect(adopted.version == 2)
            #expect(adopted.lease == .init(holder: successor, ttl: .seconds(20), expireTime: clock.now() + .seconds(20)))
            clock.advance(by: .seconds(19))
            try await engine.enforceDeadlines()
            #expect(try await engine.get(created.name).done == false)
            clock.advance(by: .seconds(1))
            try await engine.enforceDeadlines()
            guard case .error(let status)? = try await engine.get(created.name).outcome else { Issue.record("not ended"); return }
            #expect(status.details == [ErrorInfo(reason: .producerLeaseExpired, metadata: ["uid": "1000", "pid": "5555"]).payload])
            let events = try await engine.history(of: created.name, pageSize: 10).events
            #expect(events.map(\.kind.label) == ["created", "adopted", "completed"])
            #expect(events[1].actor == successor)
        }
    }

    @Test(arguments: TestBackend.available)
    func aRestartKeepsLeasesAndGivesEachItsTTLAgain(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            var engine = try await place.openEngine(clock: clock)
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(10)), actor: Fixtures.producer)
            let graced = try await engine.create(CreateRequest(id: "graced", cancellation: .cooperative(grace: .seconds(5))), actor: Fixtures.producer)
            _ = try await engine.cancel(graced.name, actor: Fixtures.consumer)
            engine.close()

            // Down for a minute: the lease's expire time passed while nobody could heartbeat.
            clock.advance(by: .seconds(60))
            engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            #expect(try await engine.get(leased.name).lease?.ttl == .seconds(10))
            let next = try await engine.enforceDeadlines()
            // The cancel grace is no lease: it is enforced at once. The lease runs 10 s from the restart.
            #expect(try await engine.get(graced.name).outcome?.isCancelled == true)
            #expect(try await engine.get(leased.name).done == false)
            #expect(next == engine.engineStart + .seconds(10))
            clock.advance(by: .seconds(5))
            #expect(try await engine.enforceDeadlines() == engine.engineStart + .seconds(10))
            #expect(try await engine.get(leased.name).done == false)
            clock.advance(by: .seconds(5))
            try await engine.enforceDeadlines()
            #expect(Self.isLeaseExpiry(try await engine.get(leased.name).outcome))
        }
    }

    @Test(arguments: TestBackend.available)
    func aProducerThatHeartbeatsAfterARestartKeepsItsOperation(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            var engine = try await place.openEngine(clock: clock)
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(10)), actor: Fixtures.producer)
            engine.close()
            clock.advance(by: .seconds(60))
            engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            clock.advance(by: .seconds(8))
            _ = try await engine.heartbeat(leased.name, actor: Fixtures.producer)
            clock.advance(by: .seconds(9))
            try await engine.enforceDeadlines()
            #expect(try await engine.get(leased.name).done == false)
            #expect(try await engine.get(leased.name).lease?.expireTime == clock.now() + .seconds(1))
        }
    }

    @Test(arguments: TestBackend.available)
    func theDeadlineIndexPagesInDeadlineThenNameOrder(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock)
            for id in ["e", "b", "d", "a", "c"] {
                _ = try await engine.create(CreateRequest(id: id, leaseTTL: .seconds(id == "e" ? 5 : 10)), actor: Fixtures.producer)
            }
            _ = try await engine.create(CreateRequest(id: "later", leaseTTL: .seconds(60)), actor: Fixtures.producer)
            engine.close()
            let store: any OperationStore = switch backend {
            case .lmdb: try Store(directory: place.directory!.path, logger: Fixtures.quietLogger)
            case .postgres: try await PostgresStore.open(place.postgres!, logger: Fixtures.quietLogger)
            }
            defer { store.close() }
            var after: EngineDeadline?, seen: [String] = [], nexts: [Timestamp?] = []
            repeat {
                let (due, next) = try await store.engineDeadlines(dueBy: clock.now() + .seconds(10), after: after, limit: 2, damaged: { _ in })
                seen += due.map(\.name.id)
                nexts.append(next)
                after = due.count == 2 ? due.last : nil
            } while after != nil
            #expect(seen == ["e", "a", "b", "c", "d"])
            #expect(nexts.last == clock.now() + .seconds(60))
        }
    }

}
