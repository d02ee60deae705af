import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunDomain
import NIOCore
import NIOHPACK
import NIOHTTP2

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is on the other end of a connection, as the kernel reports it (`SO_PEERCRED`): the
/// process that connected, not anything the client says about itself.
public struct PeerCredentials: Hashable, Sendable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    /// Root, the daemon's own uid, or a member of the admin group: may act on every operation.
    public var isAdmin: Bool

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)\(isAdmin ? " admin" : "")" }
}

/// Who may do what on this daemon, applied to the credentials of each connection.
public struct AccessPolicy: Sendable {
    /// Members of this group (primary or supplementary) may act on every operation, like root.
    public var adminGroup: UInt32?
    /// Callers read only the operations their uid created (admins read everything).
    public var ownerOnly: Bool

    public init(adminGroup: UInt32? = nil, ownerOnly: Bool = false) {
        self.adminGroup = adminGroup
        self.ownerOnly = ownerOnly
    }

    func access(for peer: PeerCredentials) -> Access {
        peer.isAdmin ? .unrestricted : .owner(uid: peer.uid, readsOwnOnly: ownerOnly)
    }

    /// Root and the daemon's own uid (which owns the data files anyway) are admins; so is every
    /// member of the admin group, by the group database at connection time.
    func isAdmin(uid: UInt32, gid: UInt32) -> Bool {
        if uid == 0 || uid == getuid() { return true }
        guard let adminGroup else { return false }
        if gid == adminGroup { return true }
        return Self.supplementaryGroups(of: uid, primary: gid).contains(adminGroup)
    }

    private static func supplementaryGroups(of uid: UInt32, primary: UInt32) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }
}

/// Carries each connection's credentials from the socket to the RPC handlers.
///
/// grpc-swift gives handlers no view of the connection, so the transport's per-connection and
/// per-stream hooks do it: on accept, the connection's `SO_PEERCRED` is read once (with the admin
/// check, which may consult the group database) and kept in the connection's pipeline; on each
/// HTTP/2 stream, a handler in front of gRPC's removes any `longrun-peer` header the client sent
/// and adds the kernel's answer, which ``CallContext`` reads. A client therefore cannot forge it.
enum PeerIdentity {
    static let metadataKey = "longrun-peer"

    ///
    /// The same per-stream handler answers the calls ``UnaryFastPath`` takes, when one is given.
    static func install(on config: inout HTTP2ServerTransport.Posix.Config, policy: AccessPolicy, fastPath: UnaryFastPath? = nil) {
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                let credentials = Self.credentials(of: channel, policy: policy)
                try channel.pipeline.syncOperations.addHandler(ConnectionCredentials(credentials), position: .first)
            }
        }
        config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
            stream.eventLoop.makeCompletedFuture {
                // HTTP/2 streams run on their connection's event loop, so the parent's pipeline is
                // reachable synchronously.
                let connection = try? stream.parent?.pipeline.syncOperations.handler(type: ConnectionCredentials.self)
                try stream.pipeline.syncOperations.addHandler(
                    StreamEntry(credentials: connection?.credentials, stamp: connection?.stamp, fastPath: fastPath), position: .first
                )
            }
        }
    }

    /// The credentials of an accepted Unix-socket connection, with the admin check (which may
    /// consult the group database) done once; nil if the kernel would not say. Call on the
    /// channel's event loop. Both transports read their peers here, gRPC and the HTTP gateway.
    static func credentials(of channel: any Channel, policy: AccessPolicy) -> PeerCredentials? {
        readCredentials(channel).map { raw in
            PeerCredentials(uid: raw.uid, gid: raw.gid, pid: raw.pid, isAdmin: policy.isAdmin(uid: raw.uid, gid: raw.gid))
        }
    }

    static func encode(_ peer: PeerCredentials) -> String {
        "uid=\(peer.uid);gid=\(peer.gid);pid=\(peer.pid);admin=\(peer.isAdmin ? 1 : 0)"
    }

    /// Parses what ``encode(_:)`` wrote, fields in that order; nil for anything else. Runs once per
    /// call, so it scans bytes rather than splitting strings.
    static func decode(_ text: String) -> PeerCredentials? {
        var utf8 = text.utf8[...]
        func field(_ key: StaticString, last: Bool = false) -> UInt64? {
            let name = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
            guard utf8.starts(with: name) else { return nil }
            utf8 = utf8.dropFirst(name.count)
            var value: UInt64 = 0
            var digits = 0
            while let byte = utf8.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 10 {
                value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
                digits += 1
                utf8 = utf8.dropFirst()
            }
            guard digits > 0 else { return nil }
            if last { return utf8.isEmpty ? value : nil }
            guard utf8.first == UInt8(ascii: ";") else { return nil }
            utf8 = utf8.dropFirst()
            return value
        }
        guard let uid = field("uid=").flatMap(UInt32.init(exactly:)), let gid = field("gid=").flatMap(UInt32.init(exactly:)),
              let pid = field("pid=").flatMap(Int32.init(exactly:)), let admin = field("admin=", last: true), admin <= 1
        else { return nil }
        return PeerCredentials(uid: uid, gid: gid, pid: pid, isAdmin: admin == 1)
    }

    /// Linux's `struct ucred` (pid, uid, gid), which Glibc exports only under `_GNU_SOURCE`.
    private struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private static func readCredentials(_ channel: any Channel) -> UCred? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // Called on the channel's event loop, where the option is read synchronously: the future is
        // already fulfilled and the callback runs at once.
        var credentials: UCred?
        future.assumeIsolated().whenSuccess { credentials = $0 }
        return credentials
    }
}

/// Holds a connection's credentials in its pipeline; passes every event through untouched.
private final class ConnectionCredentials: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let credentials: PeerCredentials?
    /// The credentials as the `longrun-peer` header carries them, encoded once per connection.
    let stamp: String?

    init(_ credentials: PeerCredentials?) {
        self.credentials = credentials
        self.stamp = credentials.map(PeerIdentity.encode)
    }
}

/// The first handler of every HTTP/2 stream. A stream ``UnaryFastPath`` takes is answered here,
/// on the event loop, and nothing of it reaches grpc-swift (whose handler then sees the stream
/// close unused). Every other stream goes on to grpc-swift with any client-sent `longrun-peer`
/// header replaced by the connection's credentials.
private final class StreamEntry: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        /// Before the request's headers.
        case opening
        /// A call for grpc-swift.
        case forwarding(stamped: Bool)
        /// A call the fast path takes, collecting its request body.
        case collecting(UnaryFastPath.Method, HPACKHeaders, ByteBuffer)
        /// Answered (or reset by the client): whatever else arrives is dropped.
        case finished
    }

    private let credentials: PeerCredentials?
    private let stamp: String?
    private let fastPath: UnaryFastPath?
    private var state = State.opening
    /// A WaitOperation the fast path holds open, until it is answered or the stream closes.
    private var wait: EventLoopWait?
    /// The client reset the stream or it closed: nothing more is written to it.
    private var closed = false

    init(credentials: PeerCredentials?, stamp: String?, fastPath: UnaryFastPath?) {
        self.credentials = credentials
        self.stamp = stamp
        self.fastPath = fastPath
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .opening:
            if case .headers(let headers) = frame, let fastPath, let method = fastPath.method(of: headers.headers) {
                state = .collecting(method, headers.headers, context.channel.allocator.buffer(capacity: 0))
                if headers.endStream { finish(context: context) }
                return
            }
            state = .forwarding(stamped: false)
            forward(frame, context: context)
        case .forwarding:
            forward(frame, context: context)
        case .collecting(let method, let headers, var body):
            switch frame {
            case .data(let data):
                guard case .byteBuffer(var bytes) = data.data else { return }
                // The prefix and the largest message the server accepts; more is refused unread.
                if let fastPath, body.readableBytes + bytes.readableBytes > fastPath.maximumRequestBytes + 5 {
                    state = .finished
                    let refused = RPCError(code: .resourceExhausted, message: "the request message is larger than \(fastPath.maximumRequestBytes) bytes")
                    write(.status(refused), context: context)
                    return
                }
                state = .finished  // no copy of the buffer while it is appended to
                body.writeBuffer(&bytes)
                state = .collecting(method, headers, body)
                if data.endStream { finish(context: context) }
            case .headers(let trailers) where trailers.endStream:
                finish(context: context)
            case .rstStream:
                state = .finished
            default:
                break
            }
        case .finished:
            if case .rstStream = frame { endWait() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endWait()
        context.fireChannelInactive()
    }

    /// The stream closed before its wait was answered: the engine's waiter goes.
    private func endWait() {
        closed = true
        wait?.cancel()
        wait = nil
    }

    private func forward(_ frame: HTTP2Frame.FramePayload, context: ChannelHandlerContext) {
        guard case .headers(var headers) = frame, case .forwarding(let stamped) = state else {
            context.fireChannelRead(wrapInboundOut(frame))
            return
        }
        headers.headers.remove(name: PeerIdentity.metadataKey)
        if !stamped, let stamp {
            headers.headers.add(name: PeerIdentity.metadataKey, value: stamp)
        }
        state = .forwarding(stamped: true)
        context.fireChannelRead(wrapInboundOut(.headers(headers)))
    }

    private func finish(context: ChannelHandlerContext) {
        guard case .collecting(let method, let headers, let body) = state, let fastPath else { return }
        state = .finished
        // A read answers before `answer` returns; a write from the writer's thread after its
        // commit, and the frames are written on this stream's event loop.
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((entry: self, context: context), eventLoop: eventLoop)
        wait = fastPath.answer(method, body: body, headers: headers, peer: credentials, eventLoop: eventLoop) { answer in
            if eventLoop.inEventLoop {
                bound.value.entry.write(answer, context: bound.value.context)
            } else {
                eventLoop.execute { bound.value.entry.write(answer, context: bound.value.context) }
            }
        }
    }

    private func write(_ answer: UnaryFastPath.Answer, context: ChannelHandlerContext) {
        wait = nil
        guard !closed else { return }
        for frame in answer.frames(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        context.flush()
    }
}
