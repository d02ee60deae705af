import GRPCCore
import Logging
import LongrunProto
import Synchronization

/// One log line per RPC, at a level the operator chooses (`longrund --access-log-level`): the
/// method, the operation or collection it named, its status code, how long it took, and the
/// caller's uid and pid as the kernel gave them. A server interceptor, so no handler logs itself.
struct AccessLog: ServerInterceptor {
    let logger: Logger
    let level: Logger.Level

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        // Cheap when off: nothing is wrapped unless the line would be printed.
        guard logger.logLevel <= level else { return try await next(request, context) }
        let started = ContinuousClock.now
        let subject = Mutex<String?>(nil)
        let peer = request.metadata[stringValues: PeerIdentity.metadataKey].first(where: { _ in true }).flatMap(PeerIdentity.decode)
        let method = context.descriptor.fullyQualifiedMethod
        // The first request message names what the call is about.
        let observed = StreamingServerRequest(metadata: request.metadata, messages: RPCAsyncSequence(wrapping: request.messages.map { message in
            if let named = message as? any AccessLogSubject { subject.withLock { $0 = $0 ?? named.accessLogSubject } }
            return message
        }))
        let level = self.level
        let log = { @Sendable (code: RPCError.Code?) in
            Self.record(logger: logger, level: level, method: method, code: code, duration: ContinuousClock.now - started,
                        subject: subject.withLock { $0 }, peer: peer)
        }
        return try await observingCallEnd(observed, context, next: next, ended: log)
    }

    /// The line of one call; also written for the calls answered on the event loop (``UnaryFastPath``).
    static func record(logger: Logger, level: Logger.Level, method: String, code: RPCError.Code?, duration: Duration,
                       subject: String?, peer: PeerCredentials?) {
        var metadata: Logger.Metadata = [
            "method": "\(method)", "code": "\(canonicalName(code))", "duration_ms": "\(milliseconds(duration))",
        ]
        if let subject, !subject.isEmpty { metadata["name"] = "\(subject)" }
        if let peer { metadata["uid"] = "\(peer.uid)"; metadata["pid"] = "\(peer.pid)" }
        logger.log(level: level, "rpc", metadata: metadata)
    }

    static func code(of error: any Error) -> RPCError.Code {
        if let error = error as? RPCError { return error.code }
        if let error = error as? any RPCErrorConvertible { return error.rpcErrorCode }
        return .unknown
    }

    /// The code as gRPC and google.rpc.Code spell it: `OK`, `NOT_FOUND`, ...
    static func canonicalName(_ code: RPCError.Code?) -> String {
        guard let code else { return "OK" }
        let names = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                     "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]
        return code.rawValue < names.count ? names[code.rawValue] : "CODE_\(code.rawValue)"
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return String(format3: micros)
    }
}

extension String {
    /// `micros` as milliseconds with three decimals, `12.345`.
    fileprivate init(format3 micros: Int64) {
        let fraction = String(micros % 1000)
        self = "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// A request message that names an operation or a collection, for the access log.
protocol AccessLogSubject {
    var accessLogSubject: String { get }
}

extension Google_Longrunning_GetOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Google_Longrunning_ListOperationsRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Google_Longrunning_CancelOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Google_Longrunning_DeleteOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Google_Longrunning_WaitOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_SetHoldRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_GetOperationDetailsRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_ListOperationEventsRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_WatchOperationsRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_UpdateOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_CompleteOperationRequest: AccessLogSubject { var accessLogSubject: String { name } }
extension Longrun_V1_CreateOperationRequest: AccessLogSubject {
    var accessLogSubject: String { operationID.isEmpty ? parent : (parent.isEmpty ? "operations/" : parent + "/operations/") + operationID }
}
