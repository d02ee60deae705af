import GRPCCore
import GRPCProtobuf
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire

/// `longrun.v1.History`: the audit trail of one operation, and a resumable stream of every
/// transition in a collection.
struct HistoryService: Longrun_V1_History.ServiceProtocol {
    let engine: LongrunEngine
    let quotas: PeerQuotas
    /// Events read from the log per step of a watch stream.
    static let watchBatch = 256

    func listOperationEvents(request: ServerRequest<Longrun_V1_ListOperationEventsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ListOperationEventsResponse>
    {
        let call = try CallContext.current
        let message = request.message
        let name = try OperationName(parsing: message.name)
        let page = try await engine.history(of: name, pageSize: message.pageSize, pageToken: message.pageToken, access: call.access)
        var response = Longrun_V1_ListOperationEventsResponse()
        // The version after each event: the state's before the page, counted on by transitions.
        var version: UInt64 = 0
        if let first = page.events.first, first.sequence > 1 {
            version = try await engine.state(of: name, at: first.sequence - 1)?.version ?? 0
        }
        response.events = page.events.map { event in
            if event.kind.isTransition { version += 1 }
            return Self.proto(event, version: version, state: nil)
        }
        response.nextPageToken = page.nextPageToken
        return ServerResponse(message: response)
    }

    /// Streams the events of the collection (or of every collection a wildcard names) after `after_sequence` (or from the head), with each
    /// operation's current state, then waits for commits and streams those: a client that
    /// reconnects with the last sequence it saw misses nothing and sees nothing twice.
    func watchOperations(request: ServerRequest<Longrun_V1_WatchOperationsRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Longrun_V1_OperationEvent>
    {
        let message = request.message
        let call = try CallContext.current
        let collections: CollectionSet
        let filter: Filter
        let start: UInt64
        collections = try CollectionSet(listName: message.name)
        do { filter = try Filter(parsing: message.filter) } catch {
            throw DomainError(.invalidArgument, reason: .invalidFilter, error.message)
        }
        if message.startAtHead {
            guard message.afterSequence == 0 else {
                throw DomainError(.invalidArgument, reason: .invalidStart, "give either start_at_head or after_sequence, not both")
            }
            start = try await engine.appliedSequence()
        } else {
            start = message.afterSequence
            _ = try await engine.events(after: start, limit: 0)  // OUT_OF_RANGE before the stream starts
        }
        let engine = self.engine
        let quotas = self.quotas
        return StreamingServerResponse { writer in
            do {
                try await quotas.withSlot(.watch, for: call.peer) {
                    try await cancellingOnRPCCancellation {
                        var position = start
                        var states = StatesAsOfEvents(engine: engine)
                        while true {
                            let events = try await engine.events(after: position, limit: Self.watchBatch)
                            for event in events {
                                position = event.sequence
                                guard collections.matches(event.name.collection) else { continue }
                                // The filter sees, and the event carries, the operation as it was right after it.
                                let (state, exact) = try await states.apply(event)
                                // Owner-only: a caller sees the transitions of its own operations alone.
                                guard call.access.mayRead(state) else { continue }
                                if !filter.isEmpty, !filter.matches(state.filterRecord) { continue }
                                try await writer.write(Self.proto(event, version: exact ? state.version : 0, state: exact ? state : nil))
                            }
                            if events.count < Self.watchBatch { try await engine.waitForCommit(after: position) }
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
        let call = try CallContext.current
        return ServerResponse(message: try await engine.get(OperationName(parsing: request.message.name), access: call.access).detailsProto)
    }

    static func proto(_ event: Event, version: UInt64, state: OperationState?) -> Longrun_V1_OperationEvent {
        var proto = event.proto(state: state)
        if case .progressed = event.kind { proto.progressed.version = version }
        return proto
    }
}

/// The state of each operation of a watched collection as of the event being delivered: folded
/// forward from events the stream has seen, or from the operation's history on first sight.
///
/// An operation created before the retained log (its early events compacted) has no history to
/// fold: it is given its current state when the event is its latest (exact), and otherwise the
/// event goes out without a state and the filter sees the current state (docs/API.md).
struct StatesAsOfEvents {
    let engine: LongrunEngine
    /// Bounded: when full it starts over, and misses are folded from history again.
    static let capacity = 10_000
    private var states: [OperationName: OperationState] = [:]

    init(engine: LongrunEngine) {
        self.engine = engine
    }

    /// The operation's state right after `event`, and whether it is exact.
    mutating func apply(_ event: Event) async throws -> (state: OperationState, exact: Bool) {
        var prior = states[event.name]
        if prior == nil, case .created = event.kind {} else if prior == nil {
            do {
                prior = try await engine.state(of: event.name, at: event.sequence - 1)
            } catch let error as DomainError where error.reason == .historyCompacted {
                guard let current = try await engine.operationIncludingDeleted(event.name) else { throw error }
                let exact = current.lastSequence == event.sequence
                if exact { remember(current) }
                return (current, exact)
            }
        }
        guard let state = Lifecycle.apply(prior, event) else {
            throw DomainError(.outOfRange, reason: .historyCompacted, "the events of \(event.name) before \(event.sequence) are not in the log")
        }
        remember(state)
        return (state, true)
    }

    private mutating func remember(_ state: OperationState) {
        if states.count >= Self.capacity { states.removeAll(keepingCapacity: true) }
        states[state.name] = state
    }
}

