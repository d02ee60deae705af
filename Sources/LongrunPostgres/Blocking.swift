import Dispatch
import Synchronization

/// Runs async work from a thread that may block (the engine's writer thread, never one of the
/// cooperative pool's), and returns its result. The writer's calls into the seam are synchronous
/// because LMDB's write transaction lives on one thread; PostgreSQL's client is asynchronous.
func runBlocking<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let result: Result<T, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        outcome.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try outcome.withLock { $0! }.get()
}
