import Foundation
import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Synchronization
import Testing

/// The daemon's metrics observe every commit and every woken wait for as long as it runs: an
/// observer must cost the same at the thousandth call as at the first. (Kept as a bare closure in
/// a `Mutex`, each call wrapped it in two more thunks: the call stack under it grew by two frames
/// per commit, and commits at 64 callers fell from 8,969 to 385 a second within 48 s.)
@Suite("Engine: commit and wake-up observers")
struct ObserverTests {
    /// The frames on the stack where the observer is called (Foundation counts up to 128).
    private static func stackDepth() -> Int { Thread.callStackReturnAddresses.count }

    @Test(arguments: TestBackend.available)
    func theCommitObserversStackStaysTheSameCommitAfterCommit(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let depths = Mutex<[Int]>([])
            engine.observeCommits { _ in
                let depth = Self.stackDepth()
                depths.withLock { $0.append(depth) }
            }
            for _ in 0..<30 {
                _ = try await engine.create(CreateRequest(), actor: Fixtures.producer)
            }
            let seen = depths.withLock { $0 }
            #expect(seen.count >= 30)
            #expect(Set(seen).count == 1, "the stack under the observer changed: \(seen)")
        }
    }

    @Test
    func theWakeUpObserversStackStaysTheSameWakeUpAfterWakeUp() async throws {
        try await withStorePlace(.lmdb) { place in
            let engine = try await place.openEngine()
            defer { engine.close() }
            let depths = Mutex<[Int]>([])
            engine.observeWakeUps { _ in
                let depth = Self.stackDepth()
                depths.withLock { $0.append(depth) }
            }
            for _ in 0..<30 {
                let op = try await engine.create(CreateRequest(), actor: Fixtures.producer)
                let woken = Mutex<WakeUp?>(nil)
                _ = try engine.waitImmediately(op.name, deadline: nil) { wakeUp in woken.withLock { $0 = wakeUp } }
                _ = try await engine.complete(op.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer)
                _ = try engine.waitImmediately(op.name, deadline: nil, after: woken.withLock { $0 }) { _ in }
            }
            let seen = depths.withLock { $0 }
            #expect(seen.count == 30)
            #expect(Set(seen).count == 1, "the stack under the observer changed: \(seen)")
        }
    }
}
