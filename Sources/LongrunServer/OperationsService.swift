import GRPCCore
import GRPCProtobuf
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire
import SwiftProtobuf

/// `google.longrunning.Operations`, exactly as the engine defines it, so unmodified Google client
/// libraries work against the socket.
struct OperationsService: Google_Longrunning_Operations.ServiceProtocol {
    let engine: LongrunEngine
    /// Longest a WaitOperation holds the call when neither its timeout nor a deadline is shorter.
    let maximumWait: Duration
    let quotas: PeerQuotas

    private var methods: OperationsMethods { OperationsMethods(engine: engine) }

    func listOperations(request: ServerRequest<Google_Longrunning_ListOperationsRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_ListOperationsResponse>
    {
        ServerResponse(message: try await methods.list(request.message, call: .current))
    }

    func getOperation(request: ServerRequest<Google_Longrunning_GetOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        ServerResponse(message: try await methods.get(request.message, call: .current))
    }

    func deleteOperation(request: ServerRequest<Google_Longrunning_DeleteOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Protobuf_Empty>
    {
        try await methods.delete(request.message, call: .current)
        return ServerResponse(message: Google_Protobuf_Empty())
    }

    func cancelOperation(request: ServerRequest<Google_Longrunning_CancelOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Protobuf_Empty>
    {
        try await methods.cancel(request.message, call: .current)
        return ServerResponse(message: Google_Protobuf_Empty())
    }

    /// Returns when the operation is done, or its current state when the request's timeout or the
    /// call's deadline comes, whichever is first. Before a deadline it answers a little early, so the
    /// client gets the state rather than DEADLINE_EXCEEDED. Holds no thread while waiting.
    func waitOperation(request: ServerRequest<Google_Longrunning_WaitOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        let call = try CallContext.current
        let name = try OperationName(parsing: request.message.name)
        let timeout = try Self.waitTimeout(request.message, deadline: call.deadline, maximumWait: maximumWait)
        let engine = self.engine
        let access = call.access
        do {
            let state = try await quotas.withSlot(.wait, for: call.peer) {
                try await cancellingOnRPCCancellation { try await engine.wait(name, timeout: timeout, access: access) }
            }
            return ServerResponse(message: state.proto)
        } catch is CancellationError where engine.isClosed {
            throw GoogleRPCStatus.shuttingDown
        }
    }

    /// How long a WaitOperation may wait, whichever path answers it (``UnaryFastPath`` too): its
    /// `timeout`, at most `maximumWait`, and before the call's `deadline` by a margin for the reply
    /// to travel and for a busy machine (20% of the time left, between 10 ms and 5 s). The deadline
    /// is as the client sent it (`grpc-timeout` is relative), so the margin must also cover the
    /// time the request spent reaching us: grpc-swift computes the header before it opens the
    /// stream, and a busy client process was seen to take over a second to send it.
    static func waitTimeout(_ request: Google_Longrunning_WaitOperationRequest, deadline: ContinuousClock.Instant?,
                            maximumWait: Duration) throws -> Duration {
        var timeout = maximumWait
        if request.hasTimeout {
            guard let requested = Duration(validating: request.timeout) else {
                throw GoogleRPCStatus(.invalidArgument, "timeout must be a non-negative duration", reason: .invalidTimeout)
            }
            timeout = min(timeout, requested)
        }
        if let deadline {
            let remaining = deadline - ContinuousClock.now
            let margin = min(max(remaining / 5, .milliseconds(10)), .seconds(5))
            timeout = max(.zero, min(timeout, remaining - margin))
        }
        return timeout
    }
}
