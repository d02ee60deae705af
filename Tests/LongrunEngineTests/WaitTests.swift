import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Synchronization
import Testing

@Suite("Engine: wait")
struct WaitTests {
    @Test(arguments: TestBackend.available)
    func waitReturnsWhenTheOperationCompletes(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            async let waited = engine.wait(op.name, timeout: .seconds(30))
            try await waitUntil { engine.waiterCount == 1 }
            _ = try await engine.progress(op.name, metadata: nil, actor: Fixtures.producer)
            _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            let state = try await waited
            #expect(state.done)
            #expect(engine.waiterCount == 0)
        }
    }

    /// A producer told its completion is committed can count on the operation's waiters having been
    /// woken: the batch's wake-ups go before its answers.
    @Test
    func aWaiterIsWokenBeforeTheCompletionThatEndsItsWaitIsAnswered() async throws {
        try await withStorePlace(.lmdb) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            let woken = Mutex(false)
            let step = try engine.waitImmediately(op.name, deadline: nil) { _ in woken.withLock { $0 = true } }
            guard case .waiting = step else {
                Issue.record("a running operation's wait ended at once: \(step)")
                return
            }
            let wokenWhenAnswered = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                engine.enqueue(.complete(name: op.name, outcome: .response(Fixtures.payload("R"))), actor: Fixtures.producer) { result in
                    continuation.resume(with: result.map { _ in woken.withLock { $0 } })
                }
            }
            #expect(wokenWhenAnswered)
        }
    }

    /// A wake-up by a commit is reported with the time since the commit was announced (the
    /// daemon's `longrun_wait_wakeup_seconds`); a wait that ends at its deadline reports none.
    @Test(arguments: TestBackend.available)
    func aWakeUpByACommitIsReportedWithItsDelay(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let reported = Mutex<[Duration]>([])
            engine.observeWakeUps { delay in reported.withLock { $0.append(delay) } }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            #expect(try await !engine.wait(op.name, timeout: .milliseconds(20)).done)
            // A shared store announces commits as it follows the log: the create, announced after
            // the wait began, may wake it (a wake-up too, of a wait that then goes on).
            let beforeTheCompletion = reported.withLock { delays in defer { delays = [] }; return delays.count }
            #expect(beforeTheCompletion == 0 || backend == .postgres, "a wait that ended at its deadline was reported")
            async let waited = engine.wait(op.name, timeout: .seconds(30))
            try await waitUntil { engine.waiterCount == 1 }
            _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            #expect(try await waited.done)
            let delays = reported.withLock { $0 }
            #expect(delays.count == 1 || (backend == .postgres && delays.count == 2), "\(delays)")
            #expect(delays.allSatisfy { $0 >= .zero && $0 < .seconds(30) }, "\(delays)")
        }
    }

    /// The event loop's waits report theirs at the step after the wake-up, from the `WakeUp` it
    /// hands on.
    @Test
    func aWakeUpOfAWaitThatCannotSuspendIsReportedAtItsNextStep() async throws {
        try await withStorePlace(.lmdb) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let reported = Mutex<[Duration]>([])
            engine.observeWakeUps { delay in reported.withLock { $0.append(delay) } }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            let woken = Mutex<WakeUp?>(nil)
            guard case .waiting = try engine.waitImmediately(op.name, deadline: nil, wake: { wakeUp in woken.withLock { $0 = wakeUp } }) else {
                Issue.record("a running operation's wait ended at once")
                return
            }
            _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            let wakeUp = try #require(woken.withLock { $0 })
            #expect(reported.withLock { $0 }.isEmpty)
            guard case .over(let state) = try engine.waitImmediately(op.name, deadline: nil, after: wakeUp, wake: { _ in }) else {
                Issue.record("the wait did not end after its operation completed")
                return
            }
            #expect(state.done)
            #expect(reported.withLock { $0 }.count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func waitOnADoneOperationReturnsAtOnce(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
            #expect(try await engine.wait(op.name, timeout: .zero).done)
        }
    }

    @Test(arguments: TestBackend.available)
    func waitReturnsTheCurrentStateAtTheTimeout(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            _ = try await engine.progress(op.name, metadata: Fixtures.payload("M", "half"), actor: Fixtures.producer)
            let state = try await engine.wait(op.name, timeout: .milliseconds(50))
            #expect(!state.done)
            #expect(state.metadata == Fixtures.payload("M", "half"))
            #expect(engine.waiterCount == 0)
        }
    }

    @Test(arguments: TestBackend.available)
    func waitOnAnOperationThatGetsDeletedIsNotFound(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            let waiting = Task { try await engine.wait(op.name, timeout: .seconds(30)) }
            try await waitUntil { engine.waiterCount == 1 }
            try await engine.delete(op.name, actor: Fixtures.consumer)
            await #expect {
                _ = try await waiting.value
            } throws: { ($0 as? DomainError)?.kind == .notFound }
        }
    }

    @Test(arguments: TestBackend.available)
    func cancellingTheWaitingTaskEndsTheWaitAndFreesTheWaiter(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            let task = Task { try await engine.wait(op.name, timeout: nil) }
            try await waitUntil { engine.waiterCount == 1 }
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(engine.waiterCount == 0)
        }
    }

    @Test(arguments: TestBackend.available)
    func thousandsOfWaitersAreAllWokenByTheirCompletions(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            var names: [OperationName] = []
            for _ in 0..<100 { names.append(try await engine.create(CreateRequest(), actor: Fixtures.producer).name) }
            let waiting = names
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<3000 {
                    group.addTask { try await engine.wait(waiting[index % waiting.count], timeout: .seconds(60)).done }
                }
                try await waitUntil { engine.waiterCount == 3000 }
                try await withThrowingTaskGroup(of: Void.self) { completions in
                    for name in waiting {
                        completions.addTask { _ = try await engine.complete(name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer) }
                    }
                    try await completions.waitForAll()
                }
                var done = 0
                for try await finished in group where finished { done += 1 }
                #expect(done == 3000)
            }
            #expect(engine.waiterCount == 0)
        }
    }

    @Test(arguments: TestBackend.available)
    func closingTheEngineWakesWaiters(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            let waiting = Task { try await engine.wait(op.name, timeout: nil) }
            try await waitUntil { engine.waiterCount == 1 }
            engine.close()
            await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        }
    }
}

/// Polls `condition` (a test-side check of engine state, not a product behaviour) until it holds or 10 s pass.
func waitUntil(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    for _ in 0..<10_000 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(1))
    }
    Issue.record("condition not reached in 10 s", sourceLocation: sourceLocation)
}
