import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A thread of the store's or the engine's own: ``start(_:)`` runs a body on it; join it, or detach it.
package struct OwnThread: ~Copyable {
    private let handle: pthread_t

    /// Starts `body` on a new thread. The one place the store and the engine start threads.
    package static func start(_ body: @escaping @Sendable () -> Void) throws -> OwnThread {
        let job = Unmanaged.passRetained(ThreadJob(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            Unmanaged<ThreadJob>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, job.toOpaque())
        guard rc == 0 else {
            job.release()
            throw StoreError(.storage, "cannot start a thread: \(String(cString: strerror(rc)))")
        }
        return OwnThread(handle: thread)
    }

    private init(handle: pthread_t) { self.handle = handle }

    /// Waits for the body to return.
    package consuming func join() { pthread_join(handle, nil) }

    /// Lets the thread end on its own.
    package consuming func detach() { pthread_detach(handle) }
}

/// The work a thread runs, passed through pthread_create's untyped argument.
private final class ThreadJob: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Two stages of one job on two threads: `produce` runs on a thread of its own and hands each value
/// it makes to `consume`, which runs on the caller's thread, in order. The producer works at most
/// one value ahead (one handed over and not yet taken). A consumed value goes back to the
/// producer's thread to be freed, at its next hand-over: glibc frees fastest into the arena of the
/// thread that allocated, and the consumer, the slower stage in replay, is spared the work.
///
/// `produce` gets `emit`, which returns false once the consumer has stopped (it threw): the producer
/// should return then. An error thrown by either stage is rethrown here, the producer's after the
/// values it made before it; the producer's thread has ended when this returns.
package func pipeline<Value: Sendable>(produce: @escaping @Sendable (_ emit: (Value) -> Bool) throws -> Void,
                                       consume: (Value) throws -> Void) throws {
    let handoff = Handoff<Value>()
    let thread = try OwnThread.start {
        do {
            try produce { handoff.put($0) }
            handoff.finish(nil)
        } catch {
            handoff.finish(error)
        }
    }
    var failure: (any Error)?
    do {
        while let value = try handoff.take() {
            try consume(value)
            handoff.retire(consume value)
        }
    } catch {
        handoff.stop()
        failure = error
    }
    thread.join()
    if let failure { throw failure }
}

/// One value at a time from a producer thread to a consumer thread.
private final class Handoff<Value: Sendable>: Sendable {
    private struct State {
        var waiting: Value?
        /// Consumed values, to be freed on the producer's thread.
        var retired: [Value] = []
        var finished = false
        var failure: (any Error)?
        var stopped = false
    }

    private let state = Mutex(State())
    /// Signalled when the slot is free (taken, or the consumer stopped). Both semaphores start at
    /// zero: libdispatch traps when one is freed below the value it was made with, as this one
    /// would be if the consumer stopped while the producer waited.
    private let free = DispatchSemaphore(value: 0)
    /// Signalled when the slot holds a value or the producer finished.
    private let ready = DispatchSemaphore(value: 0)

    init() {
        free.signal()  // the slot starts free
    }

    /// Hands `value` over once the last one was taken; false if the consumer stopped.
    func put(_ value: Value) -> Bool {
        freeRetired()
        free.wait()
        // The consumer retires a value just before it takes the next: free it now, not a value later.
        freeRetired()
        let placed = state.withLock { state in
            guard !state.stopped else { return false }
            state.waiting = value
            return true
        }
        if placed { ready.signal() }
        return placed
    }

    /// Frees the values the consumer retired, on the producer's thread and outside the lock.
    private func freeRetired() {
        var retired: [Value] = []
        state.withLock { swap(&retired, &$0.retired) }
        retired.removeAll()
    }

    /// Hands a consumed value back to be freed on the producer's thread. The consumer's reference
    /// goes with it (`consuming`), so the producer's is the last.
    func retire(_ value: consuming Value) {
        var moved = Optional(consume value)
        state.withLock { $0.retired.append(moved.take()!) }
    }

    /// The producer is done, with or without an error.
    func finish(_ failure: (any Error)?) {
        state.withLock { state in
            state.finished = true
            state.failure = failure
        }
        ready.signal()
    }

    /// The next value; nil once the producer finished; its error after the values before it.
    func take() throws -> Value? {
        ready.wait()
        return try state.withLock { state throws -> Value? in
            if let value = state.waiting.take() {
                free.signal()
                return value
            }
            precondition(state.finished, "woken with neither a value nor the end")
            if let failure = state.failure { throw failure }
            return nil
        }
    }

    /// The consumer will take nothing more: a producer waiting to hand a value over returns false.
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.waiting = nil
        }
        free.signal()
    }
}
