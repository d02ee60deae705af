import GRPCCore
import Logging
import LongrunDomain
import LongrunEngine
import LongrunProto

/// `longrun.v1.History`: the audit trail of one operation, and a resumable stream of every
/// transition in a collection.
struct HistoryService: Longrun_V1_History.ServiceProtocol {
    let engine: LongrunEngine
    let logger: Logger
    /// Events read from the log per step of a watch stream.
    static let watchBatch = 256

    func listOperationEvents(request: ServerRequest<Longrun_V1_ListOperationEventsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ListOperationEventsResponse>
    {
        try await mappingErrors(logger) {
            let message = request.message
            let name = try OperationName(parsing: message.name)
            let page = try engine.history(of: name, pageSize: message.pageSize, pageToken: message.pageToken)
            var response = Longrun_V1_ListOperationEventsResponse()
            var version: UInt64 = 0
            if let first = page.events.first { version = try engine.operationAndVersion(name, at: first.sequence).1 - 1 }
            response.events = page.events.map { event in
                version += 1
                return Self.proto(event, version: version, state: nil)
            }
            response.nextPageToken = page.nextPageToken
            return ServerResponse(message: response)
        }
    }

    /// Streams the collection's events after `after_sequence` (or from the head), with each
    /// operation's current state, then waits for commits and streams those: a client that
    /// reconnects with the last sequence it saw misses nothing and sees nothing twice.
    func watchOperations(request: ServerRequest<Longrun_V1_WatchOperationsRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Longrun_V1_OperationEvent>
    {
        let message = request.message
        let collection: CollectionName
        let filter: Filter
        let start: UInt64
        do {
            collection = try CollectionName(listName: message.name)
            do { filter = try Filter(parsing: message.filter) } catch {
                throw DomainError(.invalidArgument, reason: "INVALID_FILTER", error.message)
            }
            if message.startAtHead {
                guard message.afterSequence == 0 else {
                    throw DomainError(.invalidArgument, reason: "INVALID_START", "give either start_at_head or after_sequence, not both")
                }
                start = try engine.appliedSequence()
            } else {
                start = message.afterSequence
                _ = try engine.events(after: start, limit: 0)  // OUT_OF_RANGE before the stream starts
            }
        } catch {
            return StreamingServerResponse(error: RPCError(ErrorMapping.status(for: error, logger: logger)))
        }
        let engine = self.engine
        let logger = self.logger
        return StreamingServerResponse { writer in
            do {
                try await cancellingOnRPCCancellation {
                    var position = start
                    while true {
                        let (events, _) = try engine.events(after: position, limit: Self.watchBatch)
                        for event in events {
                            position = event.sequence
                            guard event.name.collection == collection else { continue }
                            let (state, version) = try engine.operationAndVersion(event.name, at: event.sequence)
                            if !filter.isEmpty, let state, !filter.matches(state.filterRecord) { continue }
                            try await writer.write(Self.proto(event, version: version, state: state))
                        }
                        if events.count < Self.watchBatch { try await engine.waitForCommit(after: position) }
                    }
                }
            } catch is CancellationError {
                // The client went away, its deadline passed, or the server is stopping: end quietly.
            } catch {
                throw ErrorMapping.status(for: error, logger: logger)
            }
            return [:]
        }
    }

    static func proto(_ event: Event, version: UInt64, state: OperationState?) -> Longrun_V1_OperationEvent {
        var proto = event.proto(state: state)
        if case .progressed = event.kind { proto.progressed.version = version }
        return proto
    }
}

extension RPCError {
    init(_ status: GRPCProtobuf.GoogleRPCStatus) {
        self.init(code: status.code, message: status.message, metadata: status.rpcErrorMetadata)
    }
}

import GRPCProtobuf
