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
        do {
            try OwnThread.start { continuation.resume(with: Result { try work() }) }.detach()
        } catch {
            continuation.resume(throwing: error)
        }
    }
}
