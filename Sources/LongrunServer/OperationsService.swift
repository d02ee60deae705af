import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire
import SwiftProtobuf

/// `google.longrunning.Operations`, exactly as the engine defines it, so unmodified Google client
/// libraries work against the socket.
struct OperationsService: Google_Longrunning_Operations.ServiceProtocol {
    let engine: LongrunEngine
    let logger: Logger
    /// Longest a WaitOperation holds the call when neither its timeout nor a deadline is shorter.
    let maximumWait: Duration
    let policy: AccessPolicy
    let quotas: PeerQuotas

    private var methods: OperationsMethods { OperationsMethods(engine: engine) }

    func listOperations(request: ServerRequest<Google_Longrunning_ListOperationsRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_ListOperationsResponse>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            return ServerResponse(message: try await methods.list(request.message, call: call))
        }
    }

    func getOperation(request: ServerRequest<Google_Longrunning_GetOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            return ServerResponse(message: try await methods.get(request.message, call: call))
        }
    }

    func deleteOperation(request: ServerRequest<Google_Longrunning_DeleteOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Protobuf_Empty>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            try await methods.delete(request.message, call: call)
            return ServerResponse(message: Google_Protobuf_Empty())
        }
    }

    func cancelOperation(request: ServerRequest<Google_Longrunning_CancelOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Protobuf_Empty>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            try await methods.cancel(request.message, call: call)
            return ServerResponse(message: Google_Protobuf_Empty())
        }
    }

    /// Returns when the operation is done, or its current state when the request's timeout or the
    /// call's deadline comes, whichever is first. Before a deadline it answers a little early, so the
    /// client gets the state rather than DEADLINE_EXCEEDED. Holds no thread while waiting.
    func waitOperation(request: ServerRequest<Google_Longrunning_WaitOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            let message = request.message
            let name = try OperationName(parsing: message.name)
            var timeout = maximumWait
            if message.hasTimeout {
                guard let requested = Duration(validating: message.timeout) else {
                    throw GoogleRPCStatus(.invalidArgument, "timeout must be a non-negative duration", reason: .invalidTimeout)
                }
                timeout = min(timeout, requested)
            }
            if let deadline = call.deadline {
                let remaining = deadline - ContinuousClock.now
                // Answer before the deadline by a margin for the reply to travel and for a busy
                // machine: 20% of the time left, between 10 ms and 1 s.
                let margin = min(max(remaining / 5, .milliseconds(10)), .seconds(1))
                timeout = max(.zero, min(timeout, remaining - margin))
            }
            let engine = self.engine
            let effectiveTimeout = timeout
            let access = call.access
            do {
                let state = try await quotas.withSlot(.wait, for: call.peer) {
                    try await cancellingOnRPCCancellation { try await engine.wait(name, timeout: effectiveTimeout, access: access) }
                }
                return ServerResponse(message: state.proto)
            } catch is CancellationError where engine.isClosed {
                throw GoogleRPCStatus.shuttingDown
            }
        }
    }
}
