import NIOCore

/// Turns the flushes one event-loop turn asks of a connection into one: the first schedules a
/// flush at the end of the turn's tasks, the rest ride on it.
///
/// The writer answers each command of a committed batch with a task on the connection's event
/// loop (``UnaryFastPath``), and each answer flushes its stream; without this, 64 callers on one
/// connection cost one `writev` per answer. NIOHTTP2 already gathers the flushes of the streams
/// answered while it reads, and those reach here as one.
///
/// A write committed by the event loop that read it is answered before the store's commit, which
/// then holds the loop for tens of microseconds: ``flushNow(_:)`` sends that answer at once, past
/// NIOHTTP2 (which holds its streams' flushes until the read ends) and past the turn's end.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var scheduled = false
    private var removed = false

    /// The outbound event ``flushNow(_:)`` sends down the connection's pipeline.
    struct FlushNow: Sendable {}

    /// Writes what the connection holds to its socket now, on the connection's event loop: the
    /// HTTP/2 frames its streams wrote, then the bytes.
    static func flushNow(_ connection: any Channel) {
        connection.flush()
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
