import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Testing

/// The engine's rules through the real store, with the exact error each rejection carries.
@Suite("Engine: lifecycle through the store")
struct EngineTests {
    @Test(arguments: TestBackend.available)
    func createGetProgressCompleteRoundTrip(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock)
            defer { engine.close() }
            let created = try await engine.create(CreateRequest(id: "build-1", metadata: Fixtures.payload("acme.Meta", "0%")), actor: Fixtures.producer)
            #expect(created.name.description == "operations/build-1")
            #expect(!created.done)
            #expect(created.creator == Fixtures.producer)
            clock.advance(by: .seconds(1))
            let progressed = try await engine.progress(created.name, metadata: Fixtures.payload("acme.Meta", "50%"), expectedVersion: 1, actor: Fixtures.producer)
            #expect(progressed.version == 2)
            #expect(progressed.cancelRequest == nil)
            #expect(try await engine.get(created.name).metadata == Fixtures.payload("acme.Meta", "50%"))
            clock.advance(by: .seconds(1))
            let done = try await engine.complete(created.name, outcome: .response(Fixtures.payload("acme.Result")), actor: Fixtures.producer)
            #expect(done.done)
            #expect(done.endTime == clock.now())
            #expect(try await engine.get(created.name) == done)
        }
    }

    @Test(arguments: TestBackend.available)
    func generatedNamesAreValidAndInCreationOrder(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            var names: [String] = []
            for _ in 0..<20 { names.append(try await engine.create(CreateRequest(), actor: Fixtures.producer).name.id) }
            #expect(names == names.sorted())
            #expect(Set(names).count == 20)
            let listed = try await engine.list(ListRequest(pageSize: 100)).operations.map(\.name.id)
            #expect(listed == names)
        }
    }

    @Test(arguments: TestBackend.available)
    func errorsCarryTheirCodes(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(id: "a"), actor: Fixtures.producer)
            let missing = Fixtures.name("operations/missing")
            await expectDomainError(.invalidArgument, .invalidOperationID) { _ = try await engine.create(CreateRequest(id: "Bad_Id"), actor: Fixtures.producer) }
            await expectDomainError(.alreadyExists, .operationAlreadyExists) { _ = try await engine.create(CreateRequest(id: "a"), actor: Fixtures.producer) }
            await expectDomainError(.notFound) { _ = try await engine.get(missing) }
            await expectDomainError(.notFound) { _ = try await engine.progress(missing, metadata: nil, actor: Fixtures.producer) }
            await expectDomainError(.notFound) { _ = try await engine.complete(missing, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }
            await expectDomainError(.notFound) { _ = try await engine.cancel(missing, actor: Fixtures.consumer) }
            await expectDomainError(.notFound) { try await engine.delete(missing, actor: Fixtures.consumer) }
            await expectDomainError(.notFound) { _ = try await engine.wait(missing, timeout: .seconds(1)) }
            await expectDomainError(.aborted, .versionMismatch) { _ = try await engine.progress(op.name, metadata: nil, expectedVersion: 7, actor: Fixtures.producer) }
            await expectDomainError(.invalidArgument, .invalidErrorStatus) {
                _ = try await engine.complete(op.name, outcome: .error(Status(.ok, "")), actor: Fixtures.producer)
            }
            _ = try await engine.complete(op.name, outcome: .error(Status(.internal, "broke")), actor: Fixtures.producer)
            await expectDomainError(.failedPrecondition, .operationAlreadyDone) { _ = try await engine.progress(op.name, metadata: nil, actor: Fixtures.producer) }
            await expectDomainError(.failedPrecondition, .operationAlreadyDone) {
                _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            }
            await expectDomainError(.invalidArgument, .invalidPageSize) { _ = try await engine.list(ListRequest(pageSize: -1)) }
            await expectDomainError(.invalidArgument, .invalidFilter) { _ = try await engine.list(ListRequest(filter: "nope = 1")) }
            await expectDomainError(.invalidArgument, .invalidName) { _ = try await engine.list(ListRequest(name: "operations/a")) }
            await expectDomainError(.invalidArgument, .invalidPageToken) { _ = try await engine.list(ListRequest(pageToken: "garbage")) }
        }
    }

    @Test(arguments: TestBackend.available)
    func aRepeatedRequestIDReturnsTheFirstResultAndAppendsNothing(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let first = try await engine.create(CreateRequest(requestID: "req-1"), actor: Fixtures.producer)
            let head = try await engine.appliedSequence()
            let again = try await engine.create(CreateRequest(requestID: "req-1"), actor: Fixtures.producer)
            #expect(again == first)
            #expect(try await engine.appliedSequence() == head)
            // The same id in another collection is another request.
            let elsewhere = try await engine.create(CreateRequest(collection: CollectionName(parent: "tenants/a"), requestID: "req-1"), actor: Fixtures.producer)
            #expect(elsewhere.name != first.name)
        }
    }

    @Test(arguments: TestBackend.available)
    func cancelIsCooperativeThenEnforcedAfterTheGrace(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock) { $0.defaultCancelGrace = .seconds(10) }
            defer { engine.close() }
            let slow = try await engine.create(CreateRequest(id: "slow"), actor: Fixtures.producer)
            let polite = try await engine.create(CreateRequest(id: "polite", cancellation: .cooperative(grace: .seconds(60))), actor: Fixtures.producer)
            let cancelled = try await engine.cancel(slow.name, reason: "no longer needed", actor: Fixtures.consumer)
            #expect(cancelled.cancelRequest?.actor == Fixtures.consumer)
            #expect(!cancelled.done)
            _ = try await engine.cancel(polite.name, actor: Fixtures.consumer)
            // The producer learns of the request through progress.
            let seen = try await engine.progress(slow.name, metadata: nil, actor: Fixtures.producer)
            #expect(seen.isCancelPending)
            // A repeated cancel appends nothing.
            let head = try await engine.appliedSequence()
            _ = try await engine.cancel(slow.name, actor: Fixtures.consumer)
            #expect(try await engine.appliedSequence() == head)
            // Before the grace: nothing happens.
            clock.advance(by: .seconds(9))
            try await engine.enforceDeadlines()
            #expect(!(try await engine.get(slow.name).done))
            // After the default grace, the engine completes with CANCELLED; the per-operation grace still runs.
            clock.advance(by: .seconds(2))
            let next = try await engine.enforceDeadlines()
            let enforced = try await engine.get(slow.name)
            #expect(enforced.outcome?.isCancelled == true)
            #expect(!(try await engine.get(polite.name).done))
            #expect(next == polite.createTime + .seconds(60))
            let history = try await engine.history(of: slow.name).events
            #expect(history.map(\.kind.label) == ["created", "cancel_requested", "progressed", "completed"])
            #expect(history.last?.actor == .engine)
        }
    }

    @Test(arguments: TestBackend.available)
    func everyEventRecordsTheHostOfTheEngineThatCommittedIt(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let clock = ManualClock()
            let engine = try await place.openEngine(clock: clock) {
                $0.hostName = "build-3"
                $0.defaultCancelGrace = .seconds(1)
            }
            defer { engine.close() }
            let created = try await engine.create(CreateRequest(id: "hosted"), actor: Fixtures.producer)
            #expect(created.creator.host == "build-3")
            _ = try await engine.cancel(created.name, actor: Fixtures.consumer)
            clock.advance(by: .seconds(2))
            try await engine.enforceDeadlines()
            let events = try await engine.history(of: created.name).events
            #expect(events.map(\.actor.host) == ["build-3", "build-3", "build-3"], "the engine's own transitions say where too")
            #expect(events.first?.actor.uid == Fixtures.producer.uid)
        }
    }

    @Test(arguments: TestBackend.available)
    func immediateCancellationCompletesAtOnce(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(cancellation: .immediate), actor: Fixtures.producer)
            let after = try await engine.cancel(op.name, actor: Fixtures.consumer)
            #expect(after.done)
            #expect(after.outcome?.isCancelled == true)
            // Cancel of a done operation succeeds and appends nothing.
            let head = try await engine.appliedSequence()
            _ = try await engine.cancel(op.name, actor: Fixtures.consumer)
            #expect(try await engine.appliedSequence() == head)
        }
    }

    @Test(arguments: TestBackend.available)
    func theProducerMayFinishNormallyDespiteACancelRequest(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            _ = try await engine.cancel(op.name, actor: Fixtures.consumer)
            let done = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            #expect(done.outcome == .response(Fixtures.payload("R")))
            #expect(done.cancelRequest != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func deleteHidesTheOperationButKeepsItsHistoryAndDoesNotCancel(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(id: "doomed"), actor: Fixtures.producer)
            try await engine.delete(op.name, actor: Fixtures.consumer)
            await expectDomainError(.notFound) { _ = try await engine.get(op.name) }
            await expectDomainError(.notFound) { _ = try await engine.progress(op.name, metadata: nil, actor: Fixtures.producer) }
            await expectDomainError(.notFound) { _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }
            await expectDomainError(.notFound) { try await engine.delete(op.name, actor: Fixtures.consumer) }
            await expectDomainError(.alreadyExists) { _ = try await engine.create(CreateRequest(id: "doomed"), actor: Fixtures.producer) }
            let history = try await engine.history(of: op.name)
            #expect(history.events.map(\.kind.label) == ["created", "deleted"])
            #expect(history.events.last?.actor == Fixtures.consumer)
            #expect(try await engine.list(ListRequest()).operations.isEmpty)
        }
    }

    @Test(arguments: TestBackend.available)
    func historyPagesEndWithAnEmptyToken(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            for _ in 0..<9 { _ = try await engine.progress(op.name, metadata: nil, actor: Fixtures.producer) }
            var token = ""
            var sequences: [UInt64] = []
            repeat {
                let page = try await engine.history(of: op.name, pageSize: 4, pageToken: token)
                sequences += page.events.map(\.sequence)
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(sequences == Array(1...10))
            await expectDomainError(.invalidArgument, .pageTokenMismatch) {
                let other = try await engine.create(CreateRequest(), actor: Fixtures.producer)
                let token = try await engine.history(of: op.name, pageSize: 4).nextPageToken
                _ = try await engine.history(of: other.name, pageToken: token)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func listFiltersPagesAndBindsTokensToTheFilter(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            for index in 0..<30 {
                let op = try await engine.create(CreateRequest(id: "op-\(index)"), actor: Fixtures.producer)
                if index % 2 == 0 { _ = try await engine.complete(op.name, outcome: .error(Status(.cancelled, "")), actor: Fixtures.producer) }
            }
            var token = ""
            var names: [String] = []
            repeat {
                let page = try await engine.list(ListRequest(filter: "done = false", pageSize: 4, pageToken: token))
                names += page.operations.map(\.name.id)
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(names == stride(from: 1, to: 30, by: 2).map { "op-\($0)" })
            let cancelled = try await engine.list(ListRequest(filter: "error.code = CANCELLED", pageSize: 1000)).operations
            #expect(cancelled.count == 15)
            let first = try await engine.list(ListRequest(filter: "done = false", pageSize: 4))
            await expectDomainError(.invalidArgument, .pageTokenMismatch) {
                _ = try await engine.list(ListRequest(filter: "done = true", pageSize: 4, pageToken: first.nextPageToken))
            }
            // A changed page size is allowed.
            #expect(try await engine.list(ListRequest(filter: "done = false", pageSize: 10, pageToken: first.nextPageToken)).operations.count == 10)
            // page_size 0 means 50; above 1000 means 1000.
            #expect(try await engine.list(ListRequest(pageSize: 0)).operations.count == 30)
            #expect(try await engine.list(ListRequest(pageSize: 5000)).nextPageToken.isEmpty)
        }
    }

    @Test(arguments: TestBackend.available)
    func everythingAcknowledgedSurvivesReopen(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            var states: [OperationState] = []
            do {
                let engine = try await place.openEngine { $0.durability = .relaxed(syncInterval: .milliseconds(50)) }
                for index in 0..<10 {
                    let op = try await engine.create(CreateRequest(id: "op-\(index)"), actor: Fixtures.producer)
                    states.append(index % 2 == 0 ? try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) : op)
                }
                engine.close()
            }
            let reopened = try await place.openEngine()
            defer { reopened.close() }
            for state in states { #expect(try await reopened.get(state.name) == state) }
        }
    }

    @Test(arguments: TestBackend.available)
    func writesAfterCloseAreRefusedAsUnavailable(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            engine.close()
            do {
                _ = try await engine.create(CreateRequest(), actor: Fixtures.producer)
                Issue.record("create after close succeeded")
            } catch let error as LongrunStore.StoreError {
                #expect(error.kind == .closed)
            }
        }
    }
}

import LongrunStore
