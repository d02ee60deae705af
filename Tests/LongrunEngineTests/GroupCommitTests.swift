import Dispatch
import LMDB
import LongrunDomain
@testable import LongrunEngine
@testable import LongrunStore
import LongrunTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Engine: group commit")
struct GroupCommitTests {
    @Test func concurrentCallersShareCommitsAndEveryAcknowledgedTransitionSurvivesReopen() async throws {
        try await withTemporaryDirectory { directory in
            let tasks = 64, perTask = 20
            var acknowledged: [OperationState] = []
            let statistics: WriterStatistics
            do {
                let engine = try Fixtures.openEngine(directory.path)
                acknowledged = try await withThrowingTaskGroup(of: [OperationState].self) { group in
                    for task in 0..<tasks {
                        group.addTask {
                            var states: [OperationState] = []
                            for step in 0..<perTask {
                                let op = try await engine.create(CreateRequest(id: "t\(task)-s\(step)"), actor: Fixtures.producer)
                                let done = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R", "\(task)/\(step)")), actor: Fixtures.producer)
                                states.append(done)
                            }
                            return states
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                statistics = engine.writerStatistics
                engine.close()
            }
            let transitions = UInt64(tasks * perTask * 2)
            #expect(statistics.transitions == transitions)
            #expect(statistics.commands == transitions)
            // Group commit: far fewer transactions (and fsyncs) than transitions.
            #expect(statistics.commits < transitions / 2, "commits: \(statistics.commits) for \(transitions) transitions")
            let reopened = try Fixtures.openEngine(directory.path)
            defer { reopened.close() }
            #expect(acknowledged.count == tasks * perTask)
            for state in acknowledged { #expect(try await reopened.get(state.name) == state) }
            #expect(try await reopened.appliedSequence() == transitions)
        }
    }

    @Test func aRejectedCommandFailsAloneAndDoesNotFailItsBatchMates() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            _ = try await engine.create(CreateRequest(id: "taken"), actor: Fixtures.producer)
            let results = await withTaskGroup(of: (Int, Bool).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        // Every tenth asks for the taken name and must fail; the rest must succeed.
                        let id = index % 10 == 0 ? "taken" : "free-\(index)"
                        let ok = (try? await engine.create(CreateRequest(id: id), actor: Fixtures.producer)) != nil
                        return (index, ok)
                    }
                }
                return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            for (index, ok) in results { #expect(ok == (index % 10 != 0), "command \(index)") }
            #expect(try await engine.list(ListRequest(pageSize: 1000)).operations.count == 181)
            #expect(engine.writerStatistics.commits < 200)
        }
    }

    @Test func generatedIDsOfConcurrentCreatesSortInCommitOrder() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            // Many callers at once, so that ids are drawn while other creates wait in the queue.
            let created = try await withThrowingTaskGroup(of: OperationState.self) { group in
                for _ in 0..<300 { group.addTask { try await engine.create(CreateRequest(), actor: Fixtures.producer) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let byCommit = created.sorted { $0.createSequence < $1.createSequence }.map(\.name.id)
            #expect(byCommit == byCommit.sorted())
            #expect(Set(byCommit).count == 300)
        }
    }

    @Test func aLoneCallerThatLeadsCommitsOnItsOwnThreadAndIsAnsweredBeforeEnqueueReturns() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let caller = pthread_self()
            let answer = Mutex<(Result<OperationState, any Error>, Bool)?>(nil)
            engine.enqueue(CreateRequest(id: "alone"), actor: Fixtures.producer, leading: true) { result in
                answer.withLock { $0 = (result, pthread_equal(pthread_self(), caller) != 0) }
            }
            let (result, onCaller) = try #require(answer.withLock { $0 })
            #expect(onCaller)
            let state = try result.get()
            #expect(try await engine.get(state.name) == state)
            #expect(engine.writerStatistics.commits == 1)
        }
    }

    @Test func aLoneWriteIsAnsweredBeforeItsCommitEndsAndAReadBegunThenSeesIt() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let caller = pthread_self()
            let answer = Mutex<(state: OperationState, onCaller: Bool, commitsThen: UInt64, read: Task<OperationState, any Error>)?>(nil)
            engine.enqueue(CreateRequest(id: "alone"), actor: Fixtures.producer, leading: true) { result in
                guard let state = try? result.get() else { return }
                // Answered once the batch is durable (its journal record), before LMDB's commit:
                // a read a client makes now, on another thread, waits for the commit.
                let read = Task.detached { try await engine.get(state.name) }
                usleep(20_000)
                answer.withLock { $0 = (state, pthread_equal(pthread_self(), caller) != 0, engine.writerStatistics.commits, read) }
            }
            let (state, onCaller, commitsThen, read) = try #require(answer.withLock { $0 })
            #expect(onCaller)
            #expect(commitsThen == 0)
            #expect(try await read.value == state)
            #expect(engine.writerStatistics.commits == 1)
        }
    }

    @Test func aLoneWriteSomeoneWaitsOnWakesTheWaiterBeforeItIsAnswered() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let created = try await engine.create(CreateRequest(id: "awaited"), actor: Fixtures.producer)
            let waiter = Task { try await engine.wait(created.name, timeout: .seconds(30)) }
            while engine.waiterCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
            try await Task.sleep(for: .milliseconds(200))  // longer than the last batch: the next write leads
            let caller = pthread_self()
            let answer = Mutex<(onCaller: Bool, commitsThen: UInt64, waitersThen: Int)?>(nil)
            let command = Command.complete(name: created.name, outcome: .response(Fixtures.payload("R", "done")))
            engine.enqueue(command, actor: Fixtures.producer, leading: true) { _ in
                answer.withLock { $0 = (pthread_equal(pthread_self(), caller) != 0, engine.writerStatistics.commits, engine.waiterCount) }
            }
            let (onCaller, commitsThen, waitersThen) = try #require(answer.withLock { $0 })
            #expect(onCaller)
            // Answered after the commit, and after the waiter was woken.
            #expect(commitsThen == 2)
            #expect(waitersThen == 0)
            #expect(try await waiter.value.done)
        }
    }

    @Test func aLoneWriteAnsweredBeforeACommitThatFailsStopsTheEngineAndTheNextOpenHasIt() async throws {
        try await withTemporaryDirectory { directory in
            let answered: OperationState
            do {
                let engine = try Fixtures.openEngine(directory.path)
                defer { engine.close() }
                let created = try await engine.create(CreateRequest(id: "p"), actor: Fixtures.producer)
                let store = try #require(engine.lmdb)
                store.answeredCommitFault.withLock { $0 = .init { LMDBError(kind: .other(code: EIO), code: EIO, operation: "mdb_txn_commit") } }
                try await Task.sleep(for: .milliseconds(200))  // longer than the last batch: the next write leads
                let answer = Mutex<Result<OperationState, any Error>?>(nil)
                let command = Command.complete(name: created.name, outcome: .response(Fixtures.payload("R", "done")))
                engine.enqueue(command, actor: Fixtures.producer, leading: true) { result in answer.withLock { $0 = result } }
                answered = try #require(try answer.withLock { $0 }?.get())
                #expect(answered.done)
                #expect(engine.commitFailed)
                await #expect(throws: StoreError.self) { _ = try await engine.get(created.name) }
                await #expect(throws: StoreError.self) { _ = try await engine.create(CreateRequest(id: "q"), actor: Fixtures.producer) }
            }
            let reopened = try Fixtures.openEngine(directory.path)
            defer { reopened.close() }
            #expect(!reopened.commitFailed)
            #expect(try await reopened.get(answered.name) == answered)
            _ = try await reopened.create(CreateRequest(id: "q"), actor: Fixtures.producer)
        }
    }

    @Test func callersThatLeadWhenIdleLoseNothingAndTheirGeneratedIDsSortInCommitOrder() async throws {
        try await withTemporaryDirectory { directory in
            let callers = 16, perCaller = 25
            var acknowledged: [OperationState] = []
            do {
                let engine = try Fixtures.openEngine(directory.path)
                // Each caller on a thread of its own, one request at a time as a client is: some find
                // the writer idle and commit themselves, the rest queue behind them.
                let answers = Mutex<[Result<OperationState, any Error>]>([])
                let group = DispatchGroup()
                for caller in 0..<callers {
                    DispatchQueue(label: "caller-\(caller)").async(group: group) {
                        for step in 0..<perCaller {
                            let answered = DispatchSemaphore(value: 0)
                            let request = step % 2 == 0 ? CreateRequest() : CreateRequest(id: "c\(caller)-s\(step)")
                            engine.enqueue(request, actor: Fixtures.producer, leading: true) { result in
                                answers.withLock { $0.append(result) }
                                answered.signal()
                            }
                            answered.wait()
                        }
                    }
                }
                await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
                acknowledged = try answers.withLock { try $0.map { try $0.get() } }
                engine.close()
            }
            #expect(acknowledged.count == callers * perCaller)
            let generated = acknowledged.filter { !$0.name.id.hasPrefix("c") }.sorted { $0.createSequence < $1.createSequence }.map(\.name.id)
            #expect(generated == generated.sorted())
            let reopened = try Fixtures.openEngine(directory.path)
            defer { reopened.close() }
            for state in acknowledged { #expect(try await reopened.get(state.name) == state) }
            #expect(try await reopened.appliedSequence() == UInt64(callers * perCaller))
        }
    }
}
