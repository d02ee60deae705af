import GRPCCore
import GRPCProtobuf
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire

/// `longrun.v1.History`: the audit trail of one operation, and a resumable stream of every
/// transition in a collection. Only converts: the rules are the engine's
/// (``LongrunEngine/history(of:pageSize:pageToken:access:)``,
/// ``LongrunEngine/watch(collection:filter:after:access:)``).
struct HistoryService: Longrun_V1_History.ServiceProtocol {
    let engine: LongrunEngine
    let quotas: PeerQuotas

    func listOperationEvents(request: ServerRequest<Longrun_V1_ListOperationEventsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ListOperationEventsResponse>
    {
        let message = request.message
        let page = try await engine.history(of: OperationName(parsing: message.name), pageSize: message.pageSize, pageToken: message.pageToken,
                                            access: CallContext.current.access)
        var response = Longrun_V1_ListOperationEventsResponse()
        response.events = zip(page.events, page.versions).map { event, version in Self.proto(event, version: version, state: nil) }
        response.nextPageToken = page.nextPageToken
        return ServerResponse(message: response)
    }

    /// Streams the events of the collection (or of every collection a wildcard names) after
    /// `after_sequence` (or from the head), each with its operation as of the event, then waits
    /// for commits and streams those: a client that reconnects with the last sequence it saw
    /// misses nothing and sees nothing twice.
    func watchOperations(request: ServerRequest<Longrun_V1_WatchOperationsRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Longrun_V1_OperationEvent>
    {
        let message = request.message
        let call = try CallContext.current
        let start: WatchStart
        if message.startAtHead {
            guard message.afterSequence == 0 else {
                throw DomainError(.invalidArgument, reason: .invalidStart, "give either start_at_head or after_sequence, not both")
            }
            start = .head
        } else {
            start = .after(message.afterSequence)
        }
        let watch = try await engine.watch(collection: message.name, filter: message.filter, after: start, access: call.access)
        let engine = self.engine
        let quotas = self.quotas
        return StreamingServerResponse { writer in
            do {
                try await quotas.withSlot(.watch, for: call.peer) {
                    try await cancellingOnRPCCancellation {
                        for try await watched in watch {
                            try await writer.write(Self.proto(watched.event, version: watched.version, state: watched.state))
                        }
                    }
                }
            } catch is CancellationError {
                // The server is stopping: tell the client to come back. Otherwise the client went away
                // or its deadline passed, and nobody is listening.
                if engine.isClosed { throw GoogleRPCStatus.shuttingDown }
            }
            return [:]
        }
    }

    func getOperationDetails(request: ServerRequest<Longrun_V1_GetOperationDetailsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_OperationDetails>
    {
        ServerResponse(message: try await engine.get(OperationName(parsing: request.message.name), access: CallContext.current.access).detailsProto)
    }

    static func proto(_ event: Event, version: UInt64, state: OperationState?) -> Longrun_V1_OperationEvent {
        var proto = event.proto(state: state)
        if case .progressed = event.kind { proto.progressed.version = version }
        return proto
    }
}
