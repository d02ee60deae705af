import NIOHTTP2
@testable import LongrunServer
import Testing

/// What a connection's answers held back by its peer's windows cost its uid.
@Suite("Transport: answers not read")
struct AnswerBacklogTests {
    let quotas = PeerQuotas(limits: .init(waits: 1, watches: 1, bufferedBytes: 1_000))
    let one = HTTP2StreamID(1)
    let three = HTTP2StreamID(3)

    @Test func anAnswerWrittenOutAtOnceChargesNothing() {
        var backlog = AnswerBacklog(quotas: quotas, uid: 7)
        backlog.handed(600, on: one)
        backlog.wrote(600, on: one)
        #expect(backlog.settle() == nil)
        #expect(quotas.unreadBytes(uid: 7) == 0)
    }

    @Test func heldAnswersAreChargedAndGivenBackAsTheyGoOut() {
        var backlog = AnswerBacklog(quotas: quotas, uid: 7)
        backlog.handed(600, on: one)
        backlog.handed(300, on: three)
        backlog.wrote(200, on: one)  // a window let part of it out
        #expect(backlog.settle() == nil)
        #expect(quotas.unreadBytes(uid: 7) == 700)
        backlog.wrote(400, on: one)
        #expect(quotas.unreadBytes(uid: 7) == 300)
        // A stream reset with its answer held: NIOHTTP2Handler drops the answer.
        backlog.closed(three)
        #expect(quotas.unreadBytes(uid: 7) == 0)
        #expect(backlog.total == 0)
    }

    @Test func theConnectionThatTakesItsUidPastTheLimitIsTold() {
        var first = AnswerBacklog(quotas: quotas, uid: 7)
        var second = AnswerBacklog(quotas: quotas, uid: 7)
        var otherUid = AnswerBacklog(quotas: quotas, uid: 8)
        first.handed(700, on: one)
        #expect(first.settle() == nil)
        otherUid.handed(700, on: one)
        #expect(otherUid.settle() == nil)
        second.handed(400, on: one)
        #expect(second.settle() == 1_100)
        // Closed, it gives back what it held: the uid is under its limit again.
        second.releaseAll()
        #expect(quotas.unreadBytes(uid: 7) == 700)
        first.releaseAll()
        otherUid.releaseAll()
        #expect(quotas.unreadBytes(uid: 7) == 0)
        #expect(quotas.unreadBytes(uid: 8) == 0)
    }
}
