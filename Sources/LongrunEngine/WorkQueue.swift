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
///
/// One batch is committed at a time: the one the draining thread took, or one a producer took to
/// commit itself when it was alone (``pushOrLead(_:)``); either ends with ``finishBatch()``.
final class WorkQueue<Element: Sendable>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var items = Deque<Element>()
    private var closed = false
    /// A batch is being committed.
    private var busy = false
    /// When the batch being committed began, when the last one ended with nothing queued, and how
    /// long the last one took (monotonic nanoseconds).
    private var batchStarted: Int64 = 0
    private var idleSince: Int64 = 0
    private var lastBatch: Int64 = 0
    /// Commands in the batch being committed, and in the last one.
    private var batchCount = 0
    private var lastBatchCount = 1

    enum Arrival {
        /// Queued for the draining thread.
        case queued
        /// Not queued: the caller commits it, then calls ``finishBatch()``.
        case lead
        /// Refused: the queue is closed.
        case closed
    }

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
        if items.count == 1 && !busy { pthread_cond_signal(&condition) }
        return true
    }

    /// Leaves `item` to the caller when it is alone: nothing is queued or being committed, the last
    /// batch held one command, and nothing came for at least as long as that batch took; so that a
    /// lone caller makes no hand-off to the draining thread and back. Else queues it as
    /// ``push(_:)``. Under load the draining thread keeps batching: a caller that commits blocks its
    /// thread (an event loop) for the flush, and commands arriving meanwhile wait for it (measured
    /// at 64 callers, leading whenever nothing was queued or being committed: a third of the
    /// throughput; BENCHMARKS.md).
    func pushOrLead(_ item: Element) -> Arrival {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !closed else { return .closed }
        if !busy && items.isEmpty && lastBatchCount == 1 {
            let now = monotonicNanoseconds()
            if now - idleSince >= lastBatch {
                busy = true
                batchStarted = now
                batchCount = 1
                return .lead
            }
        }
        items.append(item)
        if items.count == 1 && !busy { pthread_cond_signal(&condition) }
        return .queued
    }

    /// Ends the batch being committed: what was queued meanwhile goes to the draining thread.
    /// `answeredAt` (monotonic nanoseconds): when a batch answered before its commit ended was
    /// answered; its caller's pause is measured from then, as the next command of a lone caller
    /// may arrive while the commit ends.
    func finishBatch(answeredAt: Int64? = nil) {
        pthread_mutex_lock(&mutex)
        let end = answeredAt ?? monotonicNanoseconds()
        busy = false
        lastBatch = end - batchStarted
        lastBatchCount = batchCount
        if items.isEmpty { idleSince = end }
        if !items.isEmpty || closed { pthread_cond_signal(&condition) }
        pthread_mutex_unlock(&mutex)
    }

    /// Refuses further items; ``drain(maximum:timeoutNanoseconds:)`` still returns what is queued.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until items are queued and no batch is being committed (or the timeout passes, or the
    /// queue is closed) and takes up to `maximum` of them: the next batch, ended by
    /// ``finishBatch()``. Returns nil when the queue is closed, empty and idle.
    func drain(maximum: Int, timeoutNanoseconds: Int64?) -> [Element]? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        func waiting() -> Bool { busy || (items.isEmpty && !closed) }
        if waiting() {
            if let timeoutNanoseconds {
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let total = Int64(deadline.tv_nsec) + timeoutNanoseconds
                deadline.tv_sec += Int(total / 1_000_000_000)
                deadline.tv_nsec = Int(total % 1_000_000_000)
                while waiting() {
                    if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { break }
                }
            } else {
                while waiting() { pthread_cond_wait(&condition, &mutex) }
            }
        }
        if busy { return [] }
        if items.isEmpty { return closed ? nil : [] }
        let count = min(maximum, items.count)
        let batch = Array(items.prefix(count))
        items.removeFirst(count)
        busy = true
        batchStarted = monotonicNanoseconds()
        batchCount = count
        return batch
    }
}
