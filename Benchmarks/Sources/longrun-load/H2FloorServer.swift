import ArgumentParser
import LongrunProto
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import SwiftProtobuf

/// How much a unary call costs in HTTP/2 alone, below any gRPC library: a server that answers
/// GetOperation with what ``NoopOperations`` answers it (the request's name, not done) and every
/// other method with an empty message (which every response type decodes: the producer lifecycle
/// of `loadgen.py --mode lr-lifecycle` runs against it),
/// written straight on swift-nio-http2 with channel handlers on the event loop: no gRPC state
/// machine, no async wrapper, no task. Not a gRPC server (no deadlines, compression, size limits,
/// errors or streaming): the floor an own server transport
/// could approach, measured with the same client as the daemon and the no-op server. Hidden.
///
/// `--per-stream-channels` serves each stream on its own child channel (NIOHTTP2's stream
/// multiplexer, as grpc-swift's transport does); without it one handler on the connection takes
/// every stream's frames, so the difference is what the child channels cost.
struct H2FloorServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "h2-floor-server",
        abstract: "Answer every unary call on bare HTTP/2, no gRPC library (the transport's floor).",
        shouldDisplay: false
    )

    @Option(help: "Unix socket to listen on.")
    var socket: String

    @Flag(help: "A child channel per stream (NIOHTTP2's multiplexer) instead of one handler on the connection.")
    var perStreamChannels = false

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let perStream = perStreamChannels
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if perStream {
                        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                        ) { stream in
                            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(StreamAnswerer()) }
                        }
                    } else {
                        try channel.pipeline.syncOperations.addHandlers([NIOHTTP2Handler(mode: .server), ConnectionAnswerer()])
                    }
                }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true)
            .get()
        try await channel.closeFuture.get()
    }
}

/// The reply's three parts, shared by both handlers.
enum FloorReply {
    static let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
    static let trailers: HPACKHeaders = ["grpc-status": "0"]

    static let getOperationPath = "/google.longrunning.Operations/GetOperation"

    /// Whether a stream whose request headers are `headers` is a GetOperation call.
    static func isGetOperation(_ headers: HPACKHeaders) -> Bool { headers.first(name: ":path") == getOperationPath }

    /// The gRPC message (5-byte prefix and a message) answering the request's message bytes: an
    /// `Operation` named as the request for GetOperation, an empty message for any other method.
    static func message(answering request: ByteBuffer, getOperation: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard getOperation else {
            var buffer = allocator.buffer(capacity: 5)
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(UInt32(0))
            return buffer
        }
        var name = ""
        if request.readableBytes >= 5, let body = request.getBytes(at: request.readerIndex + 5, length: request.readableBytes - 5),
           let parsed = try? Google_Longrunning_GetOperationRequest(serializedBytes: body) {
            name = parsed.name
        }
        let reply = Google_Longrunning_Operation.with {
            $0.name = name
            $0.done = false
        }
        let bytes: [UInt8] = (try? reply.serializedBytes()) ?? []
        var buffer = allocator.buffer(capacity: 5 + bytes.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }
}

/// One stream's handler on its child channel: collects the request, answers at its end.
final class StreamAnswerer: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload
    private var request: ByteBuffer?
    private var getOperation = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        var ended = false
        switch payload {
        case .headers(let headers):
            getOperation = FloorReply.isGetOperation(headers.headers)
            ended = headers.endStream
        case .data(let data):
            if case .byteBuffer(var bytes) = data.data {
                if request == nil { request = bytes } else { request!.writeBuffer(&bytes) }
            }
            ended = data.endStream
        default: break
        }
        guard ended else { return }
        let message = FloorReply.message(answering: request ?? ByteBuffer(), getOperation: getOperation, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.headers(.init(headers: FloorReply.headers))), promise: nil)
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(message)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: FloorReply.trailers, endStream: true))), promise: nil)
    }
}

/// Every stream's frames on the connection, no child channels: requests kept by stream id. With
/// no stream channels to do it, it gives the connection's flow-control window back itself.
final class ConnectionAnswerer: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame
    private var requests: [HTTP2StreamID: ByteBuffer] = [:]
    private var getOperations: Set<HTTP2StreamID> = []
    private var pendingFlush = false
    private var unacknowledgedBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var ended = false
        switch frame.payload {
        case .headers(let headers):
            if FloorReply.isGetOperation(headers.headers) { getOperations.insert(frame.streamID) }
            ended = headers.endStream
        case .data(let data):
            if case .byteBuffer(var bytes) = data.data {
                unacknowledgedBytes += bytes.readableBytes + Int(data.paddingBytes ?? 0)
                if requests[frame.streamID] == nil { requests[frame.streamID] = bytes } else { requests[frame.streamID]!.writeBuffer(&bytes) }
            }
            ended = data.endStream
            if unacknowledgedBytes >= 32_768 {
                context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unacknowledgedBytes))), promise: nil)
                unacknowledgedBytes = 0
                pendingFlush = true
            }
        case .rstStream:
            requests[frame.streamID] = nil
            getOperations.remove(frame.streamID)
        default: break
        }
        guard ended else { return }
        let request = requests.removeValue(forKey: frame.streamID) ?? ByteBuffer()
        let getOperation = getOperations.remove(frame.streamID) != nil
        let message = FloorReply.message(answering: request, getOperation: getOperation, allocator: context.channel.allocator)
        let id = frame.streamID
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: FloorReply.headers)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(message))))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: FloorReply.trailers, endStream: true)))), promise: nil)
        pendingFlush = true
    }

    /// One flush per read burst, as a server coalescing its writes would.
    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }
}
