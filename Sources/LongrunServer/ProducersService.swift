import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire
import Synchronization

/// `longrun.v1.Producers`: create, progress and complete operations, one call at a time or many
/// on one stream.
struct ProducersService: Longrun_V1_Producers.ServiceProtocol {
    let engine: LongrunEngine
    let logger: Logger
    /// Transitions a stream may have in flight before the server stops reading from it.
    static let maximumInFlightPerStream = 4096

    func createOperation(request: ServerRequest<Longrun_V1_CreateOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        let call = try CallContext.current
        return ServerResponse(message: try await engine.create(try Self.create(request.message), actor: call.actor, access: call.access).proto)
    }

    func updateOperation(request: ServerRequest<Longrun_V1_UpdateOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_UpdateOperationResponse>
    {
        let call = try CallContext.current
        let state = try await engine.submit(try Self.progress(request.message), actor: call.actor, access: call.access)
        return ServerResponse(message: Self.updateResponse(state))
    }

    func completeOperation(request: ServerRequest<Longrun_V1_CompleteOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        let call = try CallContext.current
        return ServerResponse(message: try await engine.submit(try Self.complete(request.message), actor: call.actor, access: call.access).proto)
    }

    func heartbeat(request: ServerRequest<Longrun_V1_HeartbeatRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_HeartbeatResponse>
    {
        let call = try CallContext.current
        let state = try await engine.heartbeat(try OperationName(parsing: request.message.name), actor: call.actor, access: call.access)
        return ServerResponse(message: Self.heartbeatResponse(state))
    }

    func adoptOperation(request: ServerRequest<Longrun_V1_AdoptOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_UpdateOperationResponse>
    {
        let call = try CallContext.current
        let message = request.message
        let state = try await engine.adopt(try OperationName(parsing: message.name), expectedVersion: message.expectedVersion,
                                           leaseTTL: try Duration.leaseTTL(message.hasLease ? message.lease : nil),
                                           actor: call.actor, access: call.access)
        return ServerResponse(message: Self.updateResponse(state))
    }

    /// Applies transitions in the order received, without waiting for one commit before reading the
    /// next, so many share a commit; answers each (by its tag) after its commit.
    func streamTransitions(request: StreamingServerRequest<Longrun_V1_TransitionRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Longrun_V1_TransitionResponse>
    {
        let call = try CallContext.current
        let engine = self.engine
        let logger = self.logger
        return StreamingServerResponse { writer in
            let (responses, sink) = AsyncStream.makeStream(of: Longrun_V1_TransitionResponse.self)
            let flow = InFlight(limit: Self.maximumInFlightPerStream, sink: sink)
            let leases = StreamLeases(clock: ContinuousClock())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await response in responses { try await writer.write(response) }
                }
                // Keeps this stream's leases alive while it is open; cancelled when it ends.
                let renewals = Task { await leases.renew(engine: engine, actor: call.actor, access: call.access, logger: logger) }
                defer { renewals.cancel() }
                do {
                    for try await message in request.messages {
                        await flow.acquire()
                        let tag = message.tag
                        let isUpdate: Bool = if case .update? = message.command { true } else { false }
                        do {
                            try Self.enqueue(message, engine: engine, call: call) { result in
                                if case .success(let state) = result { leases.track(state) }
                                flow.release(Self.transitionResponse(tag: tag, result: result, isUpdate: isUpdate, logger: logger))
                            }
                        } catch {
                            flow.release(Self.transitionResponse(tag: tag, result: .failure(error), isUpdate: false, logger: logger))
                        }
                    }
                } catch {
                    flow.finishInput()
                    throw error
                }
                flow.finishInput()
                try await group.waitForAll()
            }
            return [:]
        }
    }

    // MARK: Request validation, shared by the unary and streaming paths: each message becomes the
    // one value the engine hands to its writer (a `CreateRequest`, named by the engine, or a `Command`).

    static func create(_ message: Longrun_V1_CreateOperationRequest) throws -> CreateRequest {
        CreateRequest(
            collection: try CollectionName(parent: message.parent),
            id: message.operationID.isEmpty ? nil : message.operationID,
            metadata: message.hasMetadata ? Payload(message.metadata) : nil,
            requestID: message.requestID.isEmpty ? nil : message.requestID,
            cancellation: try CancellationPolicy(validating: message.hasCancellation ? message.cancellation : nil),
            leaseTTL: try Duration.leaseTTL(message.hasLease ? message.lease : nil)
        )
    }

    static func progress(_ message: Longrun_V1_UpdateOperationRequest) throws -> Command {
        .progress(.init(name: try OperationName(parsing: message.name),
                        metadata: message.hasMetadata ? Payload(message.metadata) : nil,
                        expectedVersion: message.hasExpectedVersion ? message.expectedVersion : nil))
    }

    static func complete(_ message: Longrun_V1_CompleteOperationRequest) throws -> Command {
        let name = try OperationName(parsing: message.name)
        switch message.result {
        case .response(let response)?: return .complete(name: name, outcome: .response(Payload(response)))
        case .error(let status)?: return .complete(name: name, outcome: .error(Status(status)))
        case nil:
            throw DomainError(.invalidArgument, reason: .missingResult, "CompleteOperation needs exactly one of response or error")
        }
    }

    /// Validates one stream message and queues it, in the order received; throws what validation finds.
    static func enqueue(_ message: Longrun_V1_TransitionRequest, engine: LongrunEngine, call: CallContext,
                        completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) throws {
        switch message.command {
        case .create(let create)?: engine.enqueue(try Self.create(create), actor: call.actor, access: call.access, completion: completion)
        case .update(let update)?: engine.enqueue(try Self.progress(update), actor: call.actor, access: call.access, completion: completion)
        case .complete(let complete)?: engine.enqueue(try Self.complete(complete), actor: call.actor, access: call.access, completion: completion)
        case nil:
            throw DomainError(.invalidArgument, reason: .missingCommand, "a TransitionRequest needs one of create, update or complete")
        }
    }

    static func updateResponse(_ state: OperationState) -> Longrun_V1_UpdateOperationResponse {
        var response = Longrun_V1_UpdateOperationResponse()
        response.operation = state.proto
        response.version = state.version
        response.cancelRequested = state.cancelRequest != nil
        return response
    }

    static func heartbeatResponse(_ state: OperationState) -> Longrun_V1_HeartbeatResponse {
        var response = Longrun_V1_HeartbeatResponse()
        if let lease = state.lease { response.leaseExpireTime = lease.expireTime.proto }
        response.version = state.version
        response.cancelRequested = state.cancelRequest != nil
        return response
    }

    static func transitionResponse(tag: UInt64, result: Result<OperationState, any Error>, isUpdate: Bool, logger: Logger) -> Longrun_V1_TransitionResponse {
        var response = Longrun_V1_TransitionResponse()
        response.tag = tag
        switch result {
        case .success(let state) where isUpdate: response.update = updateResponse(state)
        case .success(let state): response.operation = state.proto
        case .failure(let error):
            response.error = GoogleRPCStatus(error, logger: logger).proto
        }
        return response
    }
}

/// Counts a stream's transitions in flight: the reader waits while `limit` are pending, and the
/// response stream ends once the input has ended and every pending transition was answered.
final class InFlight: Sendable {
    private struct State {
        var pending = 0
        var inputDone = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let limit: Int
    private let sink: AsyncStream<Longrun_V1_TransitionResponse>.Continuation

    init(limit: Int, sink: AsyncStream<Longrun_V1_TransitionResponse>.Continuation) {
        self.limit = limit
        self.sink = sink
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.pending < limit {
                    state.pending += 1
                    return true
                }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func release(_ response: Longrun_V1_TransitionResponse) {
        sink.yield(response)
        let (waiter, finished) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, false)  // the slot passes to the waiting reader
            }
            state.pending -= 1
            return (nil, state.inputDone && state.pending == 0)
        }
        waiter?.resume()
        if finished { sink.finish() }
    }

    func finishInput() {
        let finished = state.withLock { state -> Bool in
            state.inputDone = true
            return state.pending == 0
        }
        if finished { sink.finish() }
    }
}
