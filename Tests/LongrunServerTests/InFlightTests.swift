import Foundation
import LongrunProto
@testable import LongrunServer
import SwiftProtobuf
import Synchronization
import Testing

/// A producer stream's transitions in flight (``InFlight``): what lets the server read the next one.
@Suite("Server: a producer stream's transitions in flight")
struct InFlightTests {
    /// An ``InFlight`` and the answers it hands to the writer.
    func flow(limit: Int = 2, byteLimit: Int = 1_000) -> (InFlight, AsyncStream<InFlight.Answer>) {
        let (answers, sink) = AsyncStream.makeStream(of: InFlight.Answer.self)
        return (InFlight(limit: limit, byteLimit: byteLimit, sink: sink), answers)
    }

    /// A reader's `acquire` under way, once it waits for room (expected), or was let in at once.
    func waitingReader(_ flow: InFlight, bytes: Int, sourceLocation: SourceLocation = #_sourceLocation) async -> Task<Bool, Never> {
        let returned = Atomic(false)
        let reader = Task {
            defer { returned.store(true, ordering: .releasing) }
            return await flow.acquire(bytes)
        }
        while !flow.readerWaits && !returned.load(ordering: .acquiring) { await Task.yield() }
        #expect(flow.readerWaits, "the reader was let in at once", sourceLocation: sourceLocation)
        return reader
    }

    func response(tag: UInt64, metadata bytes: Int = 0) -> Longrun_V1_TransitionResponse {
        .with {
            $0.tag = tag
            $0.operation.name = "operations/a"
            $0.operation.metadata.value = Data(repeating: 1, count: bytes)
        }
    }

    @Test func anAnswerNotYetWrittenKeepsItsTransitionInFlight() async throws {
        let (flow, answers) = flow(limit: 2)
        #expect(await flow.acquire(100))
        #expect(await flow.acquire(100))
        let reader = await waitingReader(flow, bytes: 100)
        // Both answered: still in flight until the writer has written them out.
        flow.answer(response(tag: 1), requestBytes: 100)
        flow.answer(response(tag: 2), requestBytes: 100)
        #expect(flow.readerWaits)
        var iterator = answers.makeAsyncIterator()
        let first = try #require(await iterator.next())
        #expect(first.response.tag == 1)
        flow.written(first)
        #expect(await reader.value)
    }

    @Test func bytesInFlightStopTheReaderAndOneTransitionIsAlwaysLetIn() async throws {
        let (flow, answers) = flow(limit: 100, byteLimit: 1_000)
        // Larger than the limit alone: let in, since nothing else is in flight.
        #expect(await flow.acquire(5_000))
        let reader = await waitingReader(flow, bytes: 100)
        // Answered with less than its request held: room again, before anything is written.
        flow.answer(response(tag: 1, metadata: 10), requestBytes: 5_000)
        #expect(await reader.value)
        // Two answers of 600 bytes wait to be written: the next request waits for one of them.
        flow.answer(response(tag: 2, metadata: 600), requestBytes: 100)
        #expect(await flow.acquire(100))
        flow.answer(response(tag: 3, metadata: 600), requestBytes: 100)
        let next = await waitingReader(flow, bytes: 100)
        var iterator = answers.makeAsyncIterator()
        flow.written(try #require(await iterator.next()))
        #expect(flow.readerWaits, "the first answer was small: the two of 600 bytes still wait")
        flow.written(try #require(await iterator.next()))
        #expect(await next.value)
    }

    @Test func aReaderWaitingWhenTheAnswersCanNoLongerBeWrittenIsToldToStop() async {
        let (flow, _) = flow(limit: 1)
        #expect(await flow.acquire(10))
        let reader = await waitingReader(flow, bytes: 10)
        flow.close()
        #expect(await reader.value == false)
        #expect(await flow.acquire(10) == false)
    }

    @Test func theAnswersEndOnceTheInputHasEndedAndEveryAnswerIsWritten() async throws {
        let (flow, answers) = flow(limit: 4)
        #expect(await flow.acquire(10))
        #expect(await flow.acquire(10))
        flow.answer(response(tag: 1), requestBytes: 10)
        flow.finishInput()
        flow.answer(response(tag: 2), requestBytes: 10)
        var written: [UInt64] = []
        for await answer in answers {
            written.append(answer.response.tag)
            flow.written(answer)
        }
        #expect(written == [1, 2])
    }
}
