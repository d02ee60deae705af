import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// What the daemon's two HTTP/1.1 endpoints share, the metrics listener (``MetricsListener``) and
/// the HTTP/JSON gateway (``HTTPGateway``): a swift-nio server whose connections speak HTTP/1.1
/// (pipelined requests answered in order, a malformed request answered 400 and closed, both by
/// NIOHTTP1), and serving until graceful shutdown.
enum HTTPServerChannel {
    /// A bootstrap whose connections end in what `configure` adds after the HTTP codec; it runs on
    /// the connection's event loop, so it may use the pipeline's synchronous operations.
    static func bootstrap(configure: @escaping @Sendable (any Channel) throws -> Void) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try configure(channel)
                }
            }
    }

    /// Serves until graceful shutdown or cancellation, then closes the listening channel.
    /// Connections already accepted finish the request they are answering.
    static func serve(_ channel: any Channel) async {
        try? await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
