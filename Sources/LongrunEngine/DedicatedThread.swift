import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs blocking work (a snapshot's seconds of file I/O) on a thread of its own and awaits it, so
/// that it never occupies one of the cooperative pool's few threads.
func onDedicatedThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let job = Unmanaged.passRetained(ThreadJob { continuation.resume(with: Result { try work() }) })
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let job = Unmanaged<ThreadJob>.fromOpaque(argument!).takeRetainedValue()
            job.run()
            return nil
        }, job.toOpaque())
        if rc == 0 {
            pthread_detach(thread)
        } else {
            job.release()
            continuation.resume(throwing: StoreError(.storage, "cannot start a thread: \(String(cString: strerror(rc)))"))
        }
    }
}

/// The work a dedicated thread runs, passed through pthread_create's untyped argument.
private final class ThreadJob: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
