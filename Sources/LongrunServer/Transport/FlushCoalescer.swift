import NIOCore

/// Turns the flushes one event-loop turn asks of a connection into one: the first schedules a
/// flush at the end of the turn's tasks, the rest ride on it.
///
/// The writer answers each command of a committed batch with a task on the connection's event
/// loop (``UnaryFastPath``), and each answer flushes its stream; without this, 64 callers on one
/// connection cost one `writev` per answer. NIOHTTP2 already gathers the flushes of the streams
/// answered while it reads, and those reach here as one.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var scheduled = false
    private var removed = false

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound((coalescer: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let coalescer = bound.value.coalescer
            coalescer.scheduled = false
            if !coalescer.removed { bound.value.context.flush() }
        }
    }
}
