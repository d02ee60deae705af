import NIOCore

/// Turns the flushes one event-loop turn asks of a connection into one: the first schedules a
/// flush at the end of the turn's tasks, the rest ride on it.
///
/// The writer answers each command of a committed batch with a task on the connection's event
/// loop (``UnaryFastPath``, through ``FastPathStreams``), and each answer flushes; without this,
/// 64 callers on one connection cost one `writev` per answer. NIOHTTP2's stream multiplexer
/// already gathers the flushes of the child channels answered while it reads, and those reach here
/// as one.
///
/// A write committed by the event loop that read it is answered before the store's commit, which
/// then holds the loop for tens of microseconds: ``flushNow(_:)`` sends that answer at once, past
/// the turn's end.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var scheduled = false
    private var removed = false

    /// The outbound event ``flushNow(_:)`` sends down the connection's pipeline.
    struct FlushNow: Sendable {}

    /// Writes to the socket now what the handlers above this one have written and flushed, on the
    /// connection's event loop.
    static func flushNow(_ connection: any Channel) {
        connection.triggerUserOutboundEvent(FlushNow(), promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is FlushNow else { return context.triggerUserOutboundEvent(event, promise: promise) }
        context.flush()
        promise?.succeed()
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
