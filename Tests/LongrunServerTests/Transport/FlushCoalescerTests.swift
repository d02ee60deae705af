import NIOCore
import NIOEmbedded
@testable import LongrunServer
import Testing

/// How a connection's answers reach its socket: one write per event-loop turn, or at once.
@Suite("Transport: the flush coalescer")
struct FlushCoalescerTests {
    func bytes(_ text: String) -> IOData { .byteBuffer(ByteBuffer(string: text)) }

    /// What reached the socket so far, in order.
    func sent(_ channel: EmbeddedChannel) throws -> [String] {
        var sent: [String] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            sent.append(String(buffer: buffer))
        }
        return sent
    }

    @Test func theFlushesOfOneTurnLeaveTogetherWhenItEnds() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescer())
        channel.write(bytes("a"), promise: nil)
        channel.flush()
        channel.write(bytes("b"), promise: nil)
        channel.flush()
        #expect(try sent(channel) == [])
        channel.embeddedEventLoop.run()
        #expect(try sent(channel) == ["a", "b"])
    }

    @Test func flushNowSendsWhatIsWrittenBeforeTheTurnEnds() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescer())
        channel.write(bytes("answer"), promise: nil)
        FlushCoalescer.flushNow(channel)
        #expect(try sent(channel) == ["answer"])
        channel.write(bytes("later"), promise: nil)
        channel.flush()
        #expect(try sent(channel) == [])
        channel.embeddedEventLoop.run()
        #expect(try sent(channel) == ["later"])
    }
}
