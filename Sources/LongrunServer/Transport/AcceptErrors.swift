import Logging
import NIOCore
import NIOPosix

/// Says why the listening socket cannot accept a connection (out of file descriptors, above all),
/// at most once a minute: swift-nio retries an accept that failed with an I/O error after a second
/// and tells no one, so clients saw UNAVAILABLE and the daemon's log said nothing. Sits on the listening channel, ahead of the
/// accept back-off handler the bootstrap adds (which keeps the error to itself).
final class AcceptErrors: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let logger: Logger
    private let reports = ReportEveryMinute()

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let failures = reports.record() {
            var metadata: Logger.Metadata = ["error": "\(error)", "failures_since_last_message": "\(failures - 1)"]
            let outOfDescriptors = (error as? IOError).map { $0.errnoCode == EMFILE || $0.errnoCode == ENFILE } ?? false
            if outOfDescriptors {
                metadata["open_files_limit"] = "\(OpenFileLimit.current.map(String.init) ?? "unknown")"
                logger.warning("""
                    cannot accept a connection: out of file descriptors (one per client connection). Clients see \
                    UNAVAILABLE until connections close; raise the limit (LimitNOFILE= in the systemd unit, or ulimit -n) \
                    or let fewer clients connect. Accepting again every second
                    """, metadata: metadata)
            } else {
                logger.warning("cannot accept a connection", metadata: metadata)
            }
        }
        context.fireErrorCaught(error)
    }
}
