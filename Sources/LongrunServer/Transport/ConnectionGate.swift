import GRPCCore
import Logging
import LongrunDomain
import NIOCore
import NIOExtras
import NIOHTTP2

/// What both sockets, gRPC's and the HTTP gateway's, do with a connection as it is accepted: count
/// it against its uid's connections until it closes (``PeerQuotas/openConnection(uid:)``), and
/// past the uid's limit refuse it. A refused connection is served just enough to say why (each
/// socket answers its calls with the error, then closes it); past the refusals explained that
/// way it is closed at once.
enum ConnectionGate {
    enum Decision {
        case serve
        /// Answer what arrives with `error` and close the connection soon after.
        case refuse(DomainError)
        /// Already being closed.
        case closed
    }

    /// How long a refused connection answers its calls before it is asked to end.
    static let refusalLinger = TimeAmount.seconds(2)

    /// Runs on the connection's event loop, in its channel's initializer.
    static func admit(_ channel: any Channel, peer: PeerCredentials?, quotas: PeerQuotas?, logger: Logger) throws -> Decision {
        guard let quotas else { return .serve }
        let uid = peer?.uid
        let admission = quotas.openConnection(uid: uid)
        channel.closeFuture.whenComplete { _ in quotas.closeConnection(uid: uid) }
        func warn(_ refused: Int?) {
            guard let refused else { return }
            logger.warning("refusing connections of a uid that has as many open as it may, until some of them close; raise --max-connections-per-peer if its clients need more", metadata: [
                "peer": "\(peer.map(String.init(describing:)) ?? "unknown")", "limit": "\(quotas.limits.connections)",
                "refused_since_last_message": "\(refused)", "option": "--max-connections-per-peer",
            ])
        }
        switch admission {
        case .admitted:
            return .serve
        case .refused(let error, let warning):
            warn(warning)
            return .refuse(error)
        case .dropped(let warning):
            warn(warning)
            try channel.pipeline.syncOperations.addHandler(CloseWhenActive())
            return .closed
        }
    }
}

/// Closes its connection as soon as it is active: one accepted past every limit.
final class CloseWhenActive: ChannelInboundHandler {
    typealias InboundIn = Any

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

/// The last handler of an HTTP/2 connection ``ConnectionGate`` refused: every call that opens on
/// it is answered at once with the refusal's status (trailers only, with its `ErrorInfo`), whatever
/// its method, for ``ConnectionGate/refusalLinger``; then the connection is asked to end (GOAWAY
/// naming the last call answered, and closed by ``ConnectionLifecycle`` once those calls have
/// closed), and a second later closed whatever the peer does. Not asked to end sooner: a call the
/// client opens as the GOAWAY is on its way is not answered, and grpc-swift's client fails such a
/// call UNAVAILABLE (Google's retry it on a new connection).
final class RefusedCalls: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let status: UnaryFastPath.Answer
    private var highestStream = HTTP2StreamID.rootStream
    private var ending: Scheduled<Void>?
    private var closing: Scheduled<Void>?

    init(_ error: DomainError) {
        status = .status(RPCError(error))
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        ending = context.eventLoop.scheduleTask(in: ConnectionGate.refusalLinger) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        closing = context.eventLoop.scheduleTask(in: ConnectionGate.refusalLinger + .seconds(1)) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ending?.cancel()
        closing?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.streamID > highestStream, case .headers = frame.payload else { return }
        highestStream = frame.streamID
        for payload in status.frames(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: frame.streamID, payload: payload)), promise: nil)
        }
        context.flush()
    }
}
