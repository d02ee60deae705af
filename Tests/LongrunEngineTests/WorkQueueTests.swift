@testable import LongrunEngine
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Engine: the writer's queue")
struct WorkQueueTests {
    /// Longer than any batch these tests "commit" (they end each at once).
    func quiet() { usleep(2_000) }

    @Test func aCallerLeadsOnlyWhenAloneAfterABatchOfOne() {
        let queue = WorkQueue<Int>()
        #expect(queue.pushOrLead(1) == .lead)
        // Another command while the leader commits queues behind it, as one batch for the thread.
        #expect(queue.pushOrLead(2) == .queued)
        queue.finishBatch()
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 0) == [2])
        queue.finishBatch()
        quiet()
        #expect(queue.pushOrLead(3) == .lead)
        queue.finishBatch()
        // A batch of several: callers are not alone, so the next one queues even after a pause.
        #expect(queue.push(4) && queue.push(5))
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 0) == [4, 5])
        queue.finishBatch()
        quiet()
        #expect(queue.pushOrLead(6) == .queued)
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 0) == [6])
        queue.finishBatch()
        quiet()
        #expect(queue.pushOrLead(7) == .lead)
        queue.finishBatch()
        queue.close()
        #expect(queue.pushOrLead(8) == .closed)
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 0) == nil)
    }

    @Test func theThreadTakesNoBatchWhileACallerCommits() {
        let queue = WorkQueue<Int>()
        #expect(queue.pushOrLead(1) == .lead)
        #expect(queue.push(2))
        // Timed out while the caller's batch is in flight: nothing taken.
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 1_000_000) == [])
        queue.finishBatch()
        #expect(queue.drain(maximum: 10, timeoutNanoseconds: 1_000_000) == [2])
    }
}
