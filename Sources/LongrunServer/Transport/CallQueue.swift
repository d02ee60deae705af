import GRPCCore
import NIOCore
import NIOHPACK

/// The calls that go to grpc-swift's router: which requests qualify (``route(_:)``), and the hand-off
/// from a stream's event loop to ``UnixServerTransport``'s task group, which gives each call a task.
struct CallQueue: Sendable {
    /// One call, its request headers read, waiting for its task.
    struct Call: Sendable {
        var stream: NIOAsyncChannel<RPCRequestPart<StreamBytes>, RPCResponsePart<StreamBytes>>
        var descriptor: MethodDescriptor
        var codec: NIOLoopBound<GRPCStreamCodec>
    }

    enum Route {
        case serve(MethodDescriptor)
        /// Ends the stream with these trailers-only headers.
        case refuse(HPACKHeaders)
    }

    /// Every method the server serves, by `:path`.
    let methods: [String: MethodDescriptor]
    let maximumMessageBytes: Int
    let continuation: AsyncStream<Call>.Continuation

    /// Which method a request's headers call, or the answer that refuses it: the checks and the
    /// statuses of grpc-swift's own transport (an HTTP 415 for a content type that is not gRPC;
    /// INVALID_ARGUMENT without `:path` or with a `:method` other than POST; UNIMPLEMENTED for a
    /// compression other than `identity`, with `grpc-accept-encoding`, and for a method not served).
    func route(_ headers: HPACKHeaders) -> Route {
        guard GRPCFraming.isGRPC(contentType: headers.first(name: "content-type")) else {
            return .refuse([":status": "415"])
        }
        guard let path = headers.first(name: ":path") else {
            return refusal(.invalidArgument, "No :path header has been set.")
        }
        guard headers.first(name: ":method") == "POST" else {
            return refusal(.invalidArgument, ":method header is expected to be present and have a value of \"POST\".")
        }
        let encodings = headers[canonicalForm: "grpc-encoding"]
        if encodings.count > 1 {
            return refusal(.internalError, "grpc-encoding must contain no more than one value.")
        }
        if let encoding = encodings.first, encoding != "identity" {
            return refusal(.unimplemented, "\(encoding) compression is not supported; supported algorithms are listed in grpc-accept-encoding",
                           extra: ["grpc-accept-encoding": "identity"])
        }
        guard let method = methods[path] else {
            return refusal(.unimplemented, "Requested RPC isn't implemented by this server.")
        }
        return .serve(method)
    }

    private func refusal(_ code: Status.Code, _ message: String, extra: HPACKHeaders = [:]) -> Route {
        var trailers = GRPCFraming.trailers(code: code.rawValue, message: message, metadata: [:], trailersOnly: true)
        trailers.add(contentsOf: extra)
        return .refuse(trailers)
    }

    /// Hands `call` to the transport's task group; a call that comes after the server stopped
    /// taking them is reset.
    func enqueue(_ call: Call) {
        if case .terminated = continuation.yield(call) {
            call.stream.channel.close(promise: nil)
        }
    }
}
