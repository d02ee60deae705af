import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Holds reads back while a batch is answered but not yet visible, so that a read that begins
/// after a write's answer reached its client sees that write.
///
/// A batch may be answered once its journal record is flushed, before LMDB's unflushed commit
/// makes it visible (``StoreJournal/commitBatch(_:answering:_:)``): the commit is tens of
/// microseconds of page writes that the answer need not wait for. The gate is closed before the
/// answers leave and opened once the commit is visible. A read that begins after an answer was
/// received finds it closed, and waits for the commit, or open, after the commit. Reads on the
/// committing thread pass (they would wait for themselves); nothing on that thread reads between
/// the answer and the commit. If the commit fails for good after the answers, the gate fails:
/// every read throws until the store is opened again, which applies the batch from the journal.
///
/// Open, a read pays one atomic load.
final class VisibilityGate: Sendable {
    private enum State: Int {
        case open = 0, closed, failed
    }

    private let state = Atomic<Int>(State.open.rawValue)
    /// The thread that closed the gate.
    private let committer = Atomic<UInt>(0)
    private let reason = Mutex<StoreError?>(nil)

    /// Called by the committing thread before the answers leave.
    func close() {
        committer.store(Self.currentThread(), ordering: .relaxed)
        state.store(State.closed.rawValue, ordering: .sequentiallyConsistent)
    }

    /// Called once the commit is visible to new read transactions.
    func open() {
        state.store(State.open.rawValue, ordering: .releasing)
    }

    /// The answered batch cannot be made visible in this process: every read throws `error`.
    func fail(_ error: StoreError) {
        reason.withLock { $0 = error }
        state.store(State.failed.rawValue, ordering: .releasing)
    }

    /// What ``fail(_:)`` was given; nil while the store works.
    var failure: StoreError? { reason.withLock { $0 } }

    /// Returns once reads may see every answered batch (at once while the gate is open); throws
    /// what ``fail(_:)`` was given.
    @inline(__always)
    func pass() throws(StoreError) {
        if state.load(ordering: .acquiring) == State.open.rawValue { return }
        try waitForCommit()
    }

    private func waitForCommit() throws(StoreError) {
        var rounds = 0
        while true {
            switch State(rawValue: state.load(ordering: .acquiring)) {
            case .open?:
                return
            case .failed?:
                throw reason.withLock { $0 } ?? StoreError(.storage, "an answered batch could not be committed")
            default:
                if committer.load(ordering: .relaxed) == Self.currentThread() { return }
                // A commit's page writes: tens of microseconds, a grown map's retry more.
                rounds += 1
                if rounds < 64 { sched_yield() } else { usleep(20) }
            }
        }
    }

    private static func currentThread() -> UInt {
        #if canImport(Darwin)
        UInt(bitPattern: pthread_self())
        #else
        UInt(pthread_self())
        #endif
    }
}
