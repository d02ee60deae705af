import HeapModule
import LongrunDomain
import Synchronization

/// Callers suspended until an operation changes. Woken by commits, never by polling.
///
/// A waiter costs one dictionary entry and a continuation, or for a caller that cannot suspend a
/// callback (plus a heap entry if it has a deadline); all deadlines share one timer task that
/// sleeps until the earliest of them.
final class WaiterRegistry: Sendable {
    enum Wake: Sendable {
        /// The operation (or, conservatively, the store) changed after the sequence the caller saw;
        /// `announced`: when the commit that woke the caller was announced, nil when the caller
        /// found it announced already and did not wait.
        case changed(announced: ContinuousClock.Instant?)
        case timedOut
        case cancelled
    }

    /// How a waiter is woken: a suspended task's continuation, or a callback (``register(_:after:deadline:wake:)``).
    private enum Waker: Sendable {
        case continuation(CheckedContinuation<Wake, Never>)
        case callback(@Sendable (Wake) -> Void)

        func callAsFunction(_ wake: Wake) {
            switch self {
            case .continuation(let continuation): continuation.resume(returning: wake)
            case .callback(let callback): callback(wake)
            }
        }
    }

    /// What ``register(_:after:deadline:wake:)`` did.
    enum Registration: Sendable {
        /// Filed under this id: `wake` will be called once, unless ``unregister(_:of:)`` takes it back first.
        case waiting(id: UInt64)
        /// Not filed, and `wake` will not be called: this is the wake-up, at once.
        case immediate(Wake)
    }

    private struct Deadline: Comparable {
        var instant: ContinuousClock.Instant
        var id: UInt64
        var name: OperationName

        static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant < rhs.instant }
        static func == (lhs: Deadline, rhs: Deadline) -> Bool { lhs.id == rhs.id }
    }

    private struct State {
        var nextID: UInt64 = 0
        /// Highest sequence whose commit has been announced.
        var notifiedSequence: UInt64
        var waiters: [OperationName: [UInt64: Waker]] = [:]
        /// Callers waiting for any commit (watch streams), woken by every notification.
        var commitWaiters: [UInt64: Waker] = [:]
        var count = 0
        var deadlines = Heap<Deadline>()
        var timer: Task<Void, Never>?
        var timerInstant: ContinuousClock.Instant?
        /// Set by ``cancelAll()``: later waits end at once.
        var closed = false
    }

    private let state: Mutex<State>

    init(committedThrough sequence: UInt64) {
        state = Mutex(State(notifiedSequence: sequence))
    }

    /// The newest sequence announced as committed.
    var committedThrough: UInt64 { state.withLock { $0.notifiedSequence } }

    /// Number of callers currently waiting.
    var waiterCount: Int { state.withLock { $0.count } }

    /// Suspends until a commit after `seenSequence` changes `name`, the deadline passes, or the
    /// task is cancelled. Returns `.changed` at once if anything was committed after `seenSequence`
    /// before the caller got here, so a change between the caller's read and this call is never missed.
    func waitForChange(of name: OperationName, after seenSequence: UInt64, deadline: ContinuousClock.Instant?) async -> Wake {
        await suspend(after: seenSequence) { state, id, continuation in
            fileWaiter(.continuation(continuation), id: id, for: name, deadline: deadline, in: &state)
        } unregister: { state, id in
            Self.remove(id, name: name, from: &state)
        }
    }

    /// ``waitForChange(of:after:deadline:)`` for a caller that cannot suspend (an event loop):
    /// `wake` is called once, on the thread that commits, times out or closes, unless the caller
    /// takes the registration back with ``unregister(_:of:)``. Ends at once, without filing
    /// anything, if the registry is closed, a commit after `seenSequence` was already announced,
    /// or the deadline has passed.
    func register(_ name: OperationName, after seenSequence: UInt64, deadline: ContinuousClock.Instant?,
                  wake: @escaping @Sendable (Wake) -> Void) -> Registration {
        state.withLock { state in
            if state.closed { return .immediate(.cancelled) }
            if state.notifiedSequence > seenSequence { return .immediate(.changed(announced: nil)) }
            state.nextID += 1
            let id = state.nextID
            if let immediate = fileWaiter(.callback(wake), id: id, for: name, deadline: deadline, in: &state) { return .immediate(immediate) }
            return .waiting(id: id)
        }
    }

    /// Takes back a registration of ``register(_:after:deadline:wake:)`` whose caller is gone;
    /// false if its wake-up already happened (or is under way).
    @discardableResult
    func unregister(_ id: UInt64, of name: OperationName) -> Bool {
        state.withLock { Self.remove(id, name: name, from: &$0) } != nil
    }

    /// Files a waiter of `name` with its deadline, or returns `.timedOut` if the deadline has passed.
    private func fileWaiter(_ waker: Waker, id: UInt64, for name: OperationName, deadline: ContinuousClock.Instant?,
                            in state: inout State) -> Wake? {
        if let deadline, deadline <= .now { return .timedOut }
        state.waiters[name, default: [:]][id] = waker
        state.count += 1
        if let deadline {
            state.deadlines.insert(Deadline(instant: deadline, id: id, name: name))
            scheduleTimerLocked(&state)
        }
        return nil
    }

    /// Suspends until something is committed after `seenSequence` (at once if it already was), or
    /// the task is cancelled, or the registry closes.
    func waitForCommit(after seenSequence: UInt64) async -> Wake {
        await suspend(after: seenSequence) { state, id, continuation in
            state.commitWaiters[id] = .continuation(continuation)
            return nil
        } unregister: { state, id in
            state.commitWaiters.removeValue(forKey: id)
        }
    }

    /// The suspension both waits share: under the lock, end at once if the task is cancelled, the
    /// registry closed, or a commit after `seenSequence` was already announced; otherwise let
    /// `register` file the continuation (or end it with a wake of its own). Cancellation takes the
    /// continuation back through `unregister` and resumes it with `.cancelled`.
    private func suspend(
        after seenSequence: UInt64,
        register: (inout State, UInt64, CheckedContinuation<Wake, Never>) -> Wake?,
        unregister: @escaping @Sendable (inout State, UInt64) -> Waker?
    ) async -> Wake {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
                let immediate: Wake? = state.withLock { state in
                    if Task.isCancelled || state.closed { return .cancelled }
                    if state.notifiedSequence > seenSequence { return .changed(announced: nil) }
                    return register(&state, id, continuation)
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waker = state.withLock { unregister(&$0, id) }
            waker?(.cancelled)
        }
    }

    /// Whether a waiter of any of `names`, or of any commit (a watch stream), is filed: a batch
    /// that changes what someone waits for wakes them before it answers its callers.
    func isAwaited(_ names: [OperationName]) -> Bool {
        state.withLock { state in
            !state.commitWaiters.isEmpty || (!state.waiters.isEmpty && names.contains { state.waiters[$0] != nil })
        }
    }

    /// Called by the writer after each commit: records the committed sequence and wakes every
    /// waiter of the changed operations.
    func notify(committedThrough sequence: UInt64, changed names: [OperationName]) {
        var woken: [Waker] = []
        state.withLock { state in
            state.notifiedSequence = max(state.notifiedSequence, sequence)
            if !state.commitWaiters.isEmpty {
                woken.append(contentsOf: state.commitWaiters.values)
                state.commitWaiters = [:]
            }
            guard !state.waiters.isEmpty else { return }
            for name in names {
                guard let entries = state.waiters.removeValue(forKey: name) else { continue }
                state.count -= entries.count
                woken.append(contentsOf: entries.values)
            }
        }
        guard !woken.isEmpty else { return }
        let announced = ContinuousClock.now
        for waker in woken { waker(.changed(announced: announced)) }
    }

    /// Wakes every waiter with `.cancelled` and refuses new ones (shutdown).
    func cancelAll() {
        let woken = state.withLock { state -> [Waker] in
            state.closed = true
            let all = state.waiters.values.flatMap { $0.values } + state.commitWaiters.values
            state.waiters = [:]
            state.commitWaiters = [:]
            state.count = 0
            state.deadlines = Heap()
            state.timer?.cancel()
            state.timer = nil
            state.timerInstant = nil
            return all
        }
        for waker in woken { waker(.cancelled) }
    }

    private static func remove(_ id: UInt64, name: OperationName, from state: inout State) -> Waker? {
        guard let waker = state.waiters[name]?.removeValue(forKey: id) else { return nil }
        if state.waiters[name]?.isEmpty == true { state.waiters[name] = nil }
        state.count -= 1
        return waker
    }

    /// Makes sure a timer is set for the earliest deadline. Deadlines of waiters already woken stay
    /// in the heap until they come due and are then skipped.
    private func scheduleTimerLocked(_ state: inout State) {
        guard let earliest = state.deadlines.min?.instant else { return }
        if let current = state.timerInstant, current <= earliest, state.timer != nil { return }
        state.timer?.cancel()
        state.timerInstant = earliest
        state.timer = Task { [weak self] in
            try? await Task.sleep(until: earliest, clock: .continuous)
            guard !Task.isCancelled else { return }
            self?.fireTimer()
        }
    }

    private func fireTimer() {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [Waker] in
            var expired: [Waker] = []
            while let earliest = state.deadlines.min, earliest.instant <= now {
                state.deadlines.removeMin()
                if let waker = Self.remove(earliest.id, name: earliest.name, from: &state) {
                    expired.append(waker)
                }
            }
            state.timer = nil
            state.timerInstant = nil
            scheduleTimerLocked(&state)
            return expired
        }
        for waker in expired { waker(.timedOut) }
    }
}
