@testable import LongrunStore
import Synchronization
import Testing

/// Replay's two stages on two threads (``pipeline(produce:consume:)``): every value in order, and
/// an error of either stage ends both.
@Suite("Pipeline: a producer thread and a consumer")
struct PipelineTests {
    struct Failure: Error, Equatable { let at: Int }

    @Test("the consumer gets every value, in the order made")
    func everyValueInOrder() throws {
        var consumed: [Int] = []
        try pipeline(produce: { emit in
            for value in 0..<1_000 { guard emit(value) else { return } }
        }, consume: { consumed.append($0) })
        #expect(consumed == Array(0..<1_000))
    }

    @Test("a producer's error comes after the values it made before it")
    func producerErrorAfterItsValues() {
        var consumed: [Int] = []
        #expect(throws: Failure(at: 5)) {
            try pipeline(produce: { emit in
                for value in 0..<5 { guard emit(value) else { return } }
                throw Failure(at: 5)
            }, consume: { consumed.append($0) })
        }
        #expect(consumed == Array(0..<5))
    }

    @Test("a consumer's error stops the producer, which has ended when the pipeline returns")
    func consumerErrorStopsProducer() {
        // The producer would run forever; it stops only because emit says the consumer stopped.
        let made = Mutex(0), ended = Mutex(false)
        #expect(throws: Failure(at: 3)) {
            try pipeline(produce: { emit in
                var value = 0
                while emit(value) {
                    made.withLock { $0 += 1 }
                    value += 1
                }
                ended.withLock { $0 = true }
            }, consume: { value in
                if value == 3 { throw Failure(at: 3) }
            })
        }
        #expect(ended.withLock { $0 })
        // Handed over: the four consumed, then at most one waiting and one refused.
        #expect(made.withLock { $0 } <= 5)
    }

    @Test("a producer that makes nothing ends the pipeline at once")
    func nothingMade() throws {
        var consumed = 0
        try pipeline(produce: { (_: (Int) -> Bool) in }, consume: { _ in consumed += 1 })
        #expect(consumed == 0)
    }
}
