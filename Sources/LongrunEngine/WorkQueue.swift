import DequeModule

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A multi-producer queue drained by one thread, which blocks on a condition variable while empty.
///
/// The writer's thread is a real thread, not a task: a commit blocks in fsync for milliseconds,
/// and blocking one of the cooperative pool's few threads for that long would stall every task.
final class WorkQueue<Element: Sendable>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var items = Deque<Element>()
    private var closed = false

    init() {
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Adds an item; returns false (and does not add it) once the queue is closed.
    func push(_ item: Element) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !closed else { return false }
        items.append(item)
        if items.count == 1 { pthread_cond_signal(&condition) }
        return true
    }

    /// Refuses further items; ``drain(maximum:timeoutNanoseconds:)`` still returns what is queued.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until items are queued (or the timeout passes, or the queue is closed) and takes up to
    /// `maximum` of them. Returns nil when the queue is closed and empty.
    func drain(maximum: Int, timeoutNanoseconds: Int64?) -> [Element]? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if items.isEmpty && !closed {
            if let timeoutNanoseconds {
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let total = Int64(deadline.tv_nsec) + timeoutNanoseconds
                deadline.tv_sec += Int(total / 1_000_000_000)
                deadline.tv_nsec = Int(total % 1_000_000_000)
                while items.isEmpty && !closed {
                    if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { break }
                }
            } else {
                while items.isEmpty && !closed { pthread_cond_wait(&condition, &mutex) }
            }
        }
        if items.isEmpty { return closed ? nil : [] }
        let count = min(maximum, items.count)
        let batch = Array(items.prefix(count))
        items.removeFirst(count)
        return batch
    }
}
