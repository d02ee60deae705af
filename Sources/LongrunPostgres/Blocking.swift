import Dispatch
import Synchronization

/// Runs async work from a thread that may block (the engine's writer thread, never one of the
/// cooperative pool's), and returns its result. The writer's calls into the seam are synchronous
/// because LMDB's write transaction lives on one thread; PostgreSQL's client is asynchronous.
///
/// With a `timeout`, gives up waiting after it and throws ``BlockingTimeout``: the work is left to
/// finish or fail on its own (its task is cancelled), and the thread goes on. A server that stops
/// answering without closing its sockets cannot hold the writer, or a shutdown, for longer.
func runBlocking<T: Sendable>(timeout: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let task = Task {
        let result: Result<T, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        outcome.withLock { $0 = result }
        done.signal()
    }
    if let timeout {
        let nanoseconds = max(0, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        if done.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .timedOut {
            task.cancel()
            throw BlockingTimeout()
        }
    } else {
        done.wait()
    }
    return try outcome.withLock { $0! }.get()
}

/// ``runBlocking(timeout:_:)`` gave up waiting.
struct BlockingTimeout: Error {}
