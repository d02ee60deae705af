import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire
import SwiftProtobuf
import Synchronization

/// `longrun.v1.Producers`: create, progress and complete operations, one call at a time or many
/// on one stream.
struct ProducersService: Longrun_V1_Producers.ServiceProtocol {
    let engine: LongrunEngine
    /// What a uid's writes may hold until their commits (``PeerQuotas/chargeQueued(_:uid:)``).
    let quotas: PeerQuotas
    let logger: Logger
    /// Transitions a stream may have in flight (read and not yet answered, or answered and the
    /// answer not yet written out) before the server stops reading from it.
    static let maximumInFlightPerStream = 4096
    /// Bytes a stream's transitions in flight may hold (their requests' payloads until answered,
    /// then their answers' until written out) before the server stops reading from it; one
    /// transition is always let in, however large.
    static let maximumInFlightBytesPerStream = 16 << 20

    func createOperation(request: ServerRequest<Longrun_V1_CreateOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        let call = try CallContext.current
        let create = try Self.create(request.message)
        return try await quotas.holding(request.message.heldBytes, for: call.peer) {
            ServerResponse(message: try await engine.create(create, actor: call.actor, access: call.access).proto)
        }
    }

    func updateOperation(request: ServerRequest<Longrun_V1_UpdateOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_UpdateOperationResponse>
    {
        let call = try CallContext.current
        let progress = try Self.progress(request.message)
        let state = try await quotas.holding(request.message.heldBytes, for: call.peer) {
            try await engine.submit(progress, actor: call.actor, access: call.access)
        }
        return ServerResponse(message: Self.updateResponse(state))
    }

    func completeOperation(request: ServerRequest<Longrun_V1_CompleteOperationRequest>, context: ServerContext) async throws
        -> ServerResponse<Google_Longrunning_Operation>
    {
        let call = try CallContext.current
        let complete = try Self.complete(request.message)
        return try await quotas.holding(request.message.heldBytes, for: call.peer) {
            ServerResponse(message: try await engine.submit(complete, actor: call.actor, access: call.access).proto)
        }
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
        let (engine, logger, quotas) = (self.engine, self.logger, self.quotas)
        return StreamingServerResponse { writer in
            let (responses, sink) = AsyncStream.makeStream(of: InFlight.Answer.self)
            let flow = InFlight(limit: Self.maximumInFlightPerStream, byteLimit: Self.maximumInFlightBytesPerStream, sink: sink)
            let leases = StreamLeases(clock: ContinuousClock())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // A transition's slot is given back once its answer is written out: a client
                    // that reads no answers gets no more of its stream read.
                    defer { flow.close() }
                    for await answer in responses {
                        try await writer.write(answer.response)
                        flow.written(answer)
                    }
                }
                // Keeps this stream's leases alive while it is open; cancelled when it ends.
                let renewals = Task { await leases.renew(engine: engine, actor: call.actor, access: call.access, logger: logger) }
                defer { renewals.cancel() }
                do {
                    for try await message in request.messages {
                        let requestBytes = message.heldBytes
                        // False once the answers can no longer be written: nothing more is read.
                        guard await flow.acquire(requestBytes) else { break }
                        let tag = message.tag
                        let isUpdate: Bool = if case .update? = message.command { true } else { false }
                        do {
                            // Charged to the caller's uid, with its other writes, until answered.
                            try quotas.queueing(requestBytes, uid: call.peer.uid) { release in
                                try Self.enqueue(message, engine: engine, call: call) { result in
                                    release()
                                    if case .success(let state) = result { leases.track(state) }
                                    flow.answer(Self.transitionResponse(tag: tag, result: result, isUpdate: isUpdate, logger: logger), requestBytes: requestBytes)
                                }
                            }
                        } catch {
                            flow.answer(Self.transitionResponse(tag: tag, result: .failure(error), isUpdate: false, logger: logger), requestBytes: requestBytes)
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

/// Counts a stream's transitions in flight, and the bytes they hold: the reader waits while
/// `limit` are in flight or they hold `byteLimit` bytes (one is always let in), and a transition is
/// in flight from its read until its answer has been written out. The response stream ends once
/// the input has ended and every answer was written.
final class InFlight: Sendable {
    /// An answer on its way to the writer, with the bytes it is counted for.
    struct Answer: Sendable {
        var response: Longrun_V1_TransitionResponse
        var bytes: Int
    }

    private struct State {
        var pending = 0
        var bytes = 0
        var inputDone = false
        /// The answers can no longer be written (the stream ended or failed).
        var closed = false
        var waiter: (bytes: Int, continuation: CheckedContinuation<Bool, Never>)?

        func hasRoom(for bytes: Int, limit: Int, byteLimit: Int) -> Bool {
            pending == 0 || (pending < limit && self.bytes + bytes <= byteLimit)
        }

        /// Counts the waiting reader's transition if there is room for it now, and returns the
        /// reader to resume.
        mutating func admitWaiter(limit: Int, byteLimit: Int) -> CheckedContinuation<Bool, Never>? {
            guard let waiter, hasRoom(for: waiter.bytes, limit: limit, byteLimit: byteLimit) else { return nil }
            self.waiter = nil
            pending += 1
            bytes += waiter.bytes
            return waiter.continuation
        }
    }

    private let state = Mutex(State())
    private let limit: Int
    private let byteLimit: Int
    private let sink: AsyncStream<Answer>.Continuation

    init(limit: Int, byteLimit: Int, sink: AsyncStream<Answer>.Continuation) {
        self.limit = limit
        self.byteLimit = byteLimit
        self.sink = sink
    }

    /// Waits for room for a transition whose request holds `bytes`, and counts it; false, counting
    /// nothing, once the answers can no longer be written.
    func acquire(_ bytes: Int) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready = state.withLock { state -> Bool? in
                guard !state.closed else { return false }
                guard state.hasRoom(for: bytes, limit: limit, byteLimit: byteLimit) else {
                    state.waiter = (bytes, continuation)
                    return nil
                }
                state.pending += 1
                state.bytes += bytes
                return true
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Hands a transition's answer to the writer: from now on it is counted for the answer's bytes
    /// instead of its request's.
    func answer(_ response: Longrun_V1_TransitionResponse, requestBytes: Int) {
        let answer = Answer(response: response, bytes: response.heldBytes)
        let resume = state.withLock { state in
            state.bytes += answer.bytes - requestBytes
            return state.admitWaiter(limit: limit, byteLimit: byteLimit)
        }
        sink.yield(answer)
        resume?.resume(returning: true)
    }

    /// An answer was written out: its transition is no longer in flight.
    func written(_ answer: Answer) {
        let (resume, finished) = state.withLock { state in
            state.pending -= 1
            state.bytes -= answer.bytes
            return (state.admitWaiter(limit: limit, byteLimit: byteLimit), state.inputDone && state.pending == 0)
        }
        resume?.resume(returning: true)
        if finished { sink.finish() }
    }

    func finishInput() {
        let finished = state.withLock { state -> Bool in
            state.inputDone = true
            return state.pending == 0
        }
        if finished { sink.finish() }
    }

    /// Whether the reader waits for room (the tests).
    var readerWaits: Bool { state.withLock { $0.waiter != nil } }

    /// The answers can no longer be written: a reader waiting for room stops waiting.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: false)
    }
}

extension Longrun_V1_TransitionRequest {
    /// What the request holds while in flight, near enough: its payloads' bytes and 64 for the rest.
    var heldBytes: Int {
        switch command {
        case .create(let create)?: create.heldBytes
        case .update(let update)?: update.heldBytes
        case .complete(let complete)?: complete.heldBytes
        case nil: 64
        }
    }
}

extension Longrun_V1_CreateOperationRequest {
    var heldBytes: Int { 64 + parent.utf8.count + operationID.utf8.count + requestID.utf8.count + metadata.value.count }
}

extension Longrun_V1_UpdateOperationRequest {
    var heldBytes: Int { 64 + name.utf8.count + metadata.value.count }
}

extension Longrun_V1_CompleteOperationRequest {
    var heldBytes: Int { 64 + name.utf8.count + response.value.count + error.heldBytes }
}

extension Longrun_V1_TransitionResponse {
    /// What the answer holds until written out, near enough: its operation's payloads' bytes and
    /// 64 for the rest.
    var heldBytes: Int {
        switch result {
        case .operation(let operation)?: 64 + operation.heldBytes
        case .update(let update)?: 64 + update.operation.heldBytes
        case .error(let status)?: 64 + status.heldBytes
        case nil: 64
        }
    }
}

extension Google_Longrunning_Operation {
    var heldBytes: Int { name.utf8.count + metadata.value.count + response.value.count + error.heldBytes }
}

extension Google_Rpc_Status {
    var heldBytes: Int { message.utf8.count + details.reduce(0) { $0 + $1.value.count } }
}
