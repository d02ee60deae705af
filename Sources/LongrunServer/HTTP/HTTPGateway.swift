import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunProto
import NIOCore
import NIOHTTP1
import SwiftProtobuf

/// `google.longrunning.Operations` over HTTP/1.1 with proto3 JSON bodies, on a Unix socket of its
/// own (``LongrunServer/Configuration/httpSocketPath``), as Docker serves its API.
///
/// It only converts: the route and query or body become the request message, the call goes
/// through the same ``OperationsMethods`` the gRPC service calls, with the same ``CallContext``
/// built from the connection's `SO_PEERCRED` (``PeerIdentity``), and any error becomes the status
/// it decides itself (``GoogleRPCStatusConvertible``), in Google's JSON error shape with the HTTP
/// status Google's code table gives.
/// Routes and shapes: docs/API.md#http-json.
struct HTTPGateway: Sendable {
    let methods: OperationsMethods
    let policy: AccessPolicy
    let logger: Logger
    let accessLogLevel: Logger.Level
    let metrics: LongrunMetrics?
    /// Largest request body accepted; a larger one is answered 413 and the connection closed.
    var maximumBodyBytes = 64 << 10

    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer
        var peer: PeerCredentials?
    }

    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders = [:]
        var body: String
    }

    /// Request headers a client may set, like the gRPC metadata of the same names (docs/API.md#request-metadata).
    static let actorHeader = CallContext.actorKey
    static let cancelReasonHeader = CallContext.cancelReasonKey

    /// Answers one request, and logs and counts it. Never throws: every failure is an error response.
    func respond(to request: Request) async -> Response {
        let started = ContinuousClock.now
        let pathAndQuery = request.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pathAndQuery.first ?? "")
        let route = HTTPRoute(method: request.head.method, path: path)
        var response: Response
        var code: RPCError.Code?
        var subject = ""
        switch route {
        case .notFound:
            (response, code) = errorResponse(GoogleRPCStatus(
                .notFound, "no such resource: \(request.head.method) \(path); the Operations API is at /v1/operations and /v1/operations/{id}",
                reason: .httpRouteNotFound), httpStatus: .notFound)
        case .methodNotAllowed(let allow):
            let allowed = allow.map(\.rawValue).joined(separator: ", ")
            (response, code) = errorResponse(GoogleRPCStatus(
                .unimplemented, "\(request.head.method) is not allowed on \(path); allowed: \(allowed)",
                reason: .httpMethodNotAllowed), httpStatus: .methodNotAllowed)
            response.headers.add(name: "Allow", value: allowed)
        case .call(let method, let name):
            subject = name
            do {
                let call = try CallContext(
                    peer: request.peer,
                    actorLabel: request.head.headers.first(name: Self.actorHeader),
                    cancelReason: request.head.headers.first(name: Self.cancelReasonHeader),
                    timeout: nil, policy: policy)
                response = Response(status: .ok, body: try await perform(method, name: name, query: pathAndQuery.dropFirst().first, body: request.body, call: call))
            } catch {
                (response, code) = errorResponse(GoogleRPCStatus(error, logger: logger).proto)
            }
            metrics?.recordRPC(service: Google_Longrunning_Operations.descriptor.fullyQualifiedService, method: "HTTP \(method.rawValue)",
                               code: AccessLog.canonicalName(code), duration: ContinuousClock.now - started)
        }
        response.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        var rpc: String?
        if case .call(let method, _) = route { rpc = method.rawValue }
        logAccess(request.head, path: path, rpc: rpc, name: subject, status: response.status, code: code, peer: request.peer, started: started)
        return response
    }

    /// The one access-log line of a request, like a gRPC call's (``AccessLog``), when its level is on.
    private func logAccess(_ head: HTTPRequestHead, path: String, rpc: String?, name: String, status: HTTPResponseStatus,
                           code: RPCError.Code?, peer: PeerCredentials?, started: ContinuousClock.Instant) {
        guard logger.logLevel <= accessLogLevel else { return }
        var metadata: Logger.Metadata = [
            "transport": "http", "http": "\(head.method) \(path)", "http_status": "\(status.code)",
            "code": "\(AccessLog.canonicalName(code))", "duration_ms": "\(AccessLog.milliseconds(ContinuousClock.now - started))",
        ]
        if let rpc { metadata["method"] = "\(Google_Longrunning_Operations.descriptor.fullyQualifiedService)/\(rpc)" }
        if !name.isEmpty { metadata["name"] = "\(name)" }
        if let peer { metadata["uid"] = "\(peer.uid)"; metadata["pid"] = "\(peer.pid)" }
        logger.log(level: accessLogLevel, "rpc", metadata: metadata)
    }

    /// The request message from the path, query and body; the call; the response as JSON.
    private func perform(_ method: HTTPRoute.OperationsMethod, name: String, query: Substring?, body: ByteBuffer, call: CallContext) async throws -> String {
        switch method {
        case .listOperations:
            var message = Google_Longrunning_ListOperationsRequest()
            message.name = name
            for (parameter, value) in try queryParameters(query) {
                switch parameter {
                case "filter":
                    message.filter = value
                case "pageSize", "page_size":
                    guard let size = Int32(value) else {
                        throw GoogleRPCStatus(.invalidArgument, "pageSize must be an integer, not \(value)", reason: .invalidPageSize)
                    }
                    message.pageSize = size
                case "pageToken", "page_token":
                    message.pageToken = value
                case "returnPartialSuccess", "return_partial_success":
                    guard let flag = Bool(value) else {
                        throw GoogleRPCStatus(.invalidArgument, "returnPartialSuccess must be true or false, not \(value)", reason: .invalidQueryParameter)
                    }
                    message.returnPartialSuccess = flag
                default:
                    throw unknownParameter(parameter, allowed: "filter, pageSize, pageToken, returnPartialSuccess")
                }
            }
            return ProtoJSON.render(try await methods.list(message, call: call))
        case .getOperation:
            try noParameters(query)
            var message = Google_Longrunning_GetOperationRequest()
            message.name = name
            return ProtoJSON.render(try await methods.get(message, call: call))
        case .deleteOperation:
            try noParameters(query)
            var message = Google_Longrunning_DeleteOperationRequest()
            message.name = name
            try await methods.delete(message, call: call)
            return "{}"
        case .cancelOperation:
            try noParameters(query)
            // `body: "*"`: every field not in the path comes from the body; the name is the path's.
            var message = Google_Longrunning_CancelOperationRequest()
            if body.readableBytes > 0 {
                do {
                    message = try Google_Longrunning_CancelOperationRequest(jsonUTF8Bytes: Array(body.readableBytesView))
                } catch {
                    throw GoogleRPCStatus(.invalidArgument, "the body is not a CancelOperationRequest in JSON (send {} or nothing): \(error)",
                                              reason: .invalidJSONBody)
                }
            }
            message.name = name
            try await methods.cancel(message, call: call)
            return "{}"
        }
    }

    private func queryParameters(_ query: Substring?) throws -> [(name: String, value: String)] {
        do {
            return try HTTPQuery(query).parameters
        } catch {
            throw GoogleRPCStatus(.invalidArgument, error.description, reason: .invalidQueryParameter)
        }
    }

    private func noParameters(_ query: Substring?) throws {
        if let first = try queryParameters(query).first { throw unknownParameter(first.name, allowed: "none") }
    }

    private func unknownParameter(_ name: String, allowed: String) -> GoogleRPCStatus {
        GoogleRPCStatus(.invalidArgument, "unknown query parameter \(name) (this route takes: \(allowed))", reason: .invalidQueryParameter)
    }

    private func errorResponse(_ status: GoogleRPCStatus, httpStatus: HTTPResponseStatus? = nil) -> (Response, RPCError.Code) {
        errorResponse(status.proto, httpStatus: httpStatus)
    }

    private func errorResponse(_ status: Google_Rpc_Status, httpStatus: HTTPResponseStatus? = nil) -> (Response, RPCError.Code) {
        let code = Status.Code(rawValue: Int(status.code)).flatMap(RPCError.Code.init) ?? .unknown
        let http = httpStatus ?? Self.httpStatus(for: code)
        return (Response(status: http, body: ProtoJSON.errorBody(status, httpStatus: Int(http.code))), code)
    }

    /// The response for a body larger than ``maximumBodyBytes``.
    func bodyTooLarge(_ head: HTTPRequestHead, peer: PeerCredentials?) -> Response {
        refusal(head, GoogleRPCStatus(.resourceExhausted, "the request body is larger than \(maximumBodyBytes) bytes", reason: .requestTooLarge),
                httpStatus: .payloadTooLarge, peer: peer)
    }

    /// The response to a request refused before it is read (its body, or its connection: past its
    /// uid's connections), in the same error shape, logged like any other request.
    func refusal(_ head: HTTPRequestHead, _ status: GoogleRPCStatus, httpStatus: HTTPResponseStatus? = nil, peer: PeerCredentials?) -> Response {
        let started = ContinuousClock.now
        var (response, code) = errorResponse(status, httpStatus: httpStatus)
        response.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        let path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        logAccess(head, path: path, rpc: nil, name: "", status: response.status, code: code, peer: peer, started: started)
        return response
    }

    /// Google's table from canonical codes to HTTP statuses (google/rpc/code.proto).
    static func httpStatus(for code: RPCError.Code) -> HTTPResponseStatus {
        switch code {
        case .invalidArgument, .failedPrecondition, .outOfRange: .badRequest
        case .unauthenticated: .unauthorized
        case .permissionDenied: .forbidden
        case .notFound: .notFound
        case .alreadyExists, .aborted: .conflict
        case .resourceExhausted: .tooManyRequests
        case .cancelled: .custom(code: 499, reasonPhrase: "Client Closed Request")
        case .unimplemented: .notImplemented
        case .unavailable: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        default: .internalServerError  // UNKNOWN, INTERNAL, DATA_LOSS
        }
    }
}
