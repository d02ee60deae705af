import Foundation
import GRPCCore
import LongrunClient
import LongrunProto
import SwiftProtobuf
import Synchronization

/// An in-memory stand-in for the daemon's four services, implementing the generated client
/// protocols directly (no transport).
///
/// It follows the engine's lifecycle (`LongrunDomain.Lifecycle`) closely enough for the handles'
/// loops and the CLI helpers to be tested against it: every transition (created, progressed,
/// cancel requested, completed) adds 1 to the version, moves `update_time` and takes the next log
/// sequence; an `IMMEDIATE` cancel is two transitions (the request, then the engine's completion);
/// a repeated cancel, or a cancel of a done operation, changes nothing; a cooperative cancel sets a
/// deadline (`grace`, default 30 s) after which the engine completes the operation with
/// `CANCELLED`; a deleted operation is `NOT_FOUND` everywhere and its name is never reused.
final class FakeLongrun: Sendable {
    struct Stored {
        var operation: Google_Longrunning_Operation
        var version: UInt64 = 1
        var cancellation: Longrun_V1_CancellationOptions
        var cancelRequested = false
        var cancelReason = ""
        /// The engine's deadline for a cooperative cancel (kept after completion, as the engine
        /// does; GetOperationDetails shows it only while the operation runs).
        var cancelDeadline: Google_Protobuf_Timestamp?
        var createTime: Google_Protobuf_Timestamp
        var updateTime: Google_Protobuf_Timestamp
        var endTime: Google_Protobuf_Timestamp?
        var creator: Longrun_V1_Actor
        var requestID: String
        var createSequence: UInt64
        var lastSequence: UInt64
        var deleted = false

        var immediate: Bool { cancellation.mode == .immediate }

        var details: Longrun_V1_OperationDetails {
            Longrun_V1_OperationDetails.with {
                $0.operation = operation
                $0.version = version
                $0.cancelRequested = cancelRequested
                $0.cancelReason = cancelReason
                if let cancelDeadline, !operation.done { $0.cancelDeadline = cancelDeadline }
                $0.createTime = createTime
                $0.updateTime = updateTime
                if let endTime { $0.endTime = endTime }
                $0.creator = creator
                $0.requestID = requestID
                $0.cancellation = cancellation
                $0.lastSequence = lastSequence
            }
        }
    }

    struct State {
        var operations: [String: Stored] = [:]
        var requestIDs: [String: String] = [:]
        var nextID = 1
        /// The last sequence given to an event.
        var sequence: UInt64 = 0
        /// Calls by method name, in order.
        var calls: [String] = []
        /// When false, WaitOperation answers UNIMPLEMENTED.
        var waitImplemented = true
        /// When false, GetOperationDetails answers UNIMPLEMENTED (a daemon without it).
        var detailsImplemented = true
        /// GetOperationDetails calls that fail with UNAVAILABLE before it answers again.
        var failingDetails = 0
        /// How long each GetOperationDetails takes (to observe concurrency).
        var detailsDelay: Duration = .zero
        /// GetOperationDetails calls in progress now, and the most at once so far.
        var detailsInFlight = 0
        var maxDetailsInFlight = 0
        /// A fixed time; nil: the real time.
        var manualTime: Google_Protobuf_Timestamp?
        /// The engine's default cancel grace.
        var defaultGrace: Duration = .seconds(30)
        /// Called on each GetOperation (after recording it), to script changes while a client polls.
        var onGet: (@Sendable (inout State) -> Void)?
        /// Called on each GetOperationDetails after it has read the operation (the answer is
        /// already decided), to script changes between a read and what the client does next.
        var onDetails: (@Sendable (inout State) -> Void)?

        var now: Google_Protobuf_Timestamp { manualTime ?? Google_Protobuf_Timestamp(date: Date()) }

        /// The operation if it exists and is not deleted, after enforcing cancel deadlines.
        mutating func live(_ name: String) -> Stored? {
            enforceCancelDeadlines()
            guard let stored = operations[name], !stored.deleted else { return nil }
            return stored
        }

        /// One transition of `name`: `change`, then the version, update time and sequence.
        mutating func transition(_ name: String, _ change: (inout Stored) -> Void) {
            guard var stored = operations[name] else { return }
            change(&stored)
            sequence += 1
            stored.version += 1
            stored.updateTime = now
            stored.lastSequence = sequence
            operations[name] = stored
        }

        mutating func complete(_ name: String, with result: Google_Longrunning_Operation.OneOf_Result) {
            let now = self.now
            transition(name) { stored in
                stored.operation.done = true
                stored.operation.result = result
                stored.endTime = now
            }
        }

        mutating func create(
            name: String, metadata: Google_Protobuf_Any?, cancellation: Longrun_V1_CancellationOptions?,
            requestID: String, actor: String
        ) -> Stored {
            sequence += 1
            var operation = Google_Longrunning_Operation()
            operation.name = name
            if let metadata { operation.metadata = metadata }
            var options = cancellation ?? Longrun_V1_CancellationOptions()
            if options.mode == .unspecified { options.mode = .cooperative }
            let stored = Stored(
                operation: operation, cancellation: options, createTime: now, updateTime: now,
                creator: .with { $0.label = actor }, requestID: requestID, createSequence: sequence, lastSequence: sequence
            )
            operations[name] = stored
            if !requestID.isEmpty { requestIDs[requestID] = name }
            return stored
        }

        /// What the engine does when a cooperative cancel's deadline passes.
        mutating func enforceCancelDeadlines() {
            let now = self.now
            for (name, stored) in operations where !stored.deleted && !stored.operation.done {
                guard let deadline = stored.cancelDeadline, (now.seconds, now.nanos) >= (deadline.seconds, deadline.nanos) else { continue }
                var message = stored.cancelReason.isEmpty ? "operation cancelled" : "operation cancelled: \(stored.cancelReason)"
                message += " (the producer did not complete within the cancel grace)"
                complete(name, with: .error(.with {
                    $0.code = 1
                    $0.message = message
                }))
            }
        }
    }

    let state: Mutex<State>

    init(waitImplemented: Bool = true) {
        var state = State()
        state.waitImplemented = waitImplemented
        self.state = Mutex(state)
    }

    var client: LongrunClient {
        LongrunClient(operations: self, producers: self, history: self, admin: self, actor: "test")
    }

    var calls: [String] { state.withLock { $0.calls } }

    func count(_ call: String) -> Int { calls.filter { $0 == call }.count }

    /// The operation, unless it does not exist or was deleted.
    func operation(_ name: String) -> Google_Longrunning_Operation? {
        state.withLock { $0.live(name)?.operation }
    }

    /// Everything kept about an operation, deleted ones included.
    func stored(_ name: String) -> Stored? {
        state.withLock { state in
            state.enforceCancelDeadlines()
            return state.operations[name]
        }
    }

    /// Adds a running operation directly (created by actor `seed`).
    func seed(_ name: String, metadata: Google_Protobuf_Any? = nil, cancellation: Longrun_V1_CancellationOptions? = nil) {
        state.withLock { state in
            _ = state.create(name: name, metadata: metadata, cancellation: cancellation, requestID: "", actor: "seed")
        }
    }

    /// Completes an operation directly (as its producer would).
    func finish(_ name: String, response: Google_Protobuf_Any? = nil, error: Google_Rpc_Status? = nil) {
        state.withLock { state in
            if let response { state.complete(name, with: .response(response)) }
            if let error { state.complete(name, with: .error(error)) }
        }
    }

    /// Sets the fake's clock (and stops it there).
    func setTime(_ time: Google_Protobuf_Timestamp) {
        state.withLock { $0.manualTime = time }
    }

    /// Moves the fake's (stopped) clock forward.
    func advance(by duration: Duration) {
        state.withLock { $0.manualTime = Self.adding(duration, to: $0.now) }
    }

    private func record(_ call: String) {
        state.withLock { $0.calls.append(call) }
    }

    private static func notFound(_ name: String) -> RPCError {
        RPCError(code: .notFound, message: "operation \(name) does not exist")
    }

    private static func actor(_ metadata: Metadata) -> String {
        metadata[stringValues: "longrun-actor"].first(where: { _ in true }) ?? ""
    }

    /// `operations` for "" and `operations`; `tenants/a/operations` for `tenants/a` and
    /// `tenants/a/operations`.
    static func collection(listName: String) -> String {
        if listName.isEmpty || listName == "operations" { return "operations" }
        return listName.hasSuffix("/operations") ? listName : listName + "/operations"
    }

    static func collection(of name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[..<slash])
    }
}

extension FakeLongrun: Google_Longrunning_Operations.ClientProtocol {
    /// Pages in creation order (the token is the offset); understands the filters "",
    /// "done = true" and "done = false" and refuses others with INVALID_ARGUMENT.
    func listOperations<Result: Sendable>(
        request: ClientRequest<Google_Longrunning_ListOperationsRequest>,
        serializer: some MessageSerializer<Google_Longrunning_ListOperationsRequest>,
        deserializer: some MessageDeserializer<Google_Longrunning_ListOperationsResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Longrunning_ListOperationsResponse>) async throws -> Result
    ) async throws -> Result {
        record("ListOperations")
        let message = request.message
        let done: Bool?
        switch message.filter.trimmingCharacters(in: .whitespaces) {
        case "": done = nil
        case "done = true": done = true
        case "done = false": done = false
        default: throw RPCError(code: .invalidArgument, message: "the fake does not understand the filter \(message.filter)")
        }
        let offset = message.pageToken.isEmpty ? 0 : Int(message.pageToken) ?? -1
        guard offset >= 0 else { throw RPCError(code: .invalidArgument, message: "bad page token") }
        let pageSize = message.pageSize == 0 ? 100 : Int(message.pageSize)
        let collection = Self.collection(listName: message.name)
        let response = state.withLock { state in
            state.enforceCancelDeadlines()
            let matches = state.operations.values
                .filter { !$0.deleted && Self.collection(of: $0.operation.name) == collection && (done == nil || $0.operation.done == done) }
                .sorted { $0.createSequence < $1.createSequence }
            let page = matches.dropFirst(offset).prefix(pageSize)
            return Google_Longrunning_ListOperationsResponse.with {
                $0.operations = page.map(\.operation)
                if offset + page.count < matches.count { $0.nextPageToken = String(offset + page.count) }
            }
        }
        return try await onResponse(ClientResponse(message: response))
    }

    func getOperation<Result: Sendable>(
        request: ClientRequest<Google_Longrunning_GetOperationRequest>,
        serializer: some MessageSerializer<Google_Longrunning_GetOperationRequest>,
        deserializer: some MessageDeserializer<Google_Longrunning_Operation>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Longrunning_Operation>) async throws -> Result
    ) async throws -> Result {
        let name = request.message.name
        let operation = state.withLock { state -> Google_Longrunning_Operation? in
            state.calls.append("GetOperation")
            state.onGet?(&state)
            return state.live(name)?.operation
        }
        guard let operation else { throw Self.notFound(name) }
        return try await onResponse(ClientResponse(message: operation))
    }

    func deleteOperation<Result: Sendable>(
        request: ClientRequest<Google_Longrunning_DeleteOperationRequest>,
        serializer: some MessageSerializer<Google_Longrunning_DeleteOperationRequest>,
        deserializer: some MessageDeserializer<Google_Protobuf_Empty>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Protobuf_Empty>) async throws -> Result
    ) async throws -> Result {
        record("DeleteOperation")
        let name = request.message.name
        let found = state.withLock { state -> Bool in
            guard state.live(name) != nil else { return false }
            state.transition(name) { $0.deleted = true }
            return true
        }
        guard found else { throw Self.notFound(name) }
        return try await onResponse(ClientResponse(message: Google_Protobuf_Empty()))
    }

    func cancelOperation<Result: Sendable>(
        request: ClientRequest<Google_Longrunning_CancelOperationRequest>,
        serializer: some MessageSerializer<Google_Longrunning_CancelOperationRequest>,
        deserializer: some MessageDeserializer<Google_Protobuf_Empty>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Protobuf_Empty>) async throws -> Result
    ) async throws -> Result {
        record("CancelOperation")
        let name = request.message.name
        let reason = request.metadata[stringValues: "longrun-cancel-reason"].first(where: { _ in true }) ?? ""
        let found = state.withLock { state -> Bool in
            guard let stored = state.live(name) else { return false }
            // Best effort and idempotent: a done operation or a repeated request changes nothing.
            guard !stored.operation.done, !stored.cancelRequested else { return true }
            let now = state.now
            let grace = stored.cancellation.hasGrace ? Duration(stored.cancellation.grace) : state.defaultGrace
            state.transition(name) { stored in
                stored.cancelRequested = true
                stored.cancelReason = reason
                if !stored.immediate { stored.cancelDeadline = Self.adding(grace, to: now) }
            }
            if stored.immediate {
                state.complete(name, with: .error(.with {
                    $0.code = 1
                    $0.message = reason.isEmpty ? "operation cancelled" : "operation cancelled: \(reason)"
                }))
            }
            return true
        }
        guard found else { throw Self.notFound(name) }
        return try await onResponse(ClientResponse(message: Google_Protobuf_Empty()))
    }

    func waitOperation<Result: Sendable>(
        request: ClientRequest<Google_Longrunning_WaitOperationRequest>,
        serializer: some MessageSerializer<Google_Longrunning_WaitOperationRequest>,
        deserializer: some MessageDeserializer<Google_Longrunning_Operation>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Longrunning_Operation>) async throws -> Result
    ) async throws -> Result {
        record("WaitOperation")
        guard state.withLock({ $0.waitImplemented }) else {
            throw RPCError(code: .unimplemented, message: "WaitOperation is not implemented")
        }
        let name = request.message.name
        let clock = ContinuousClock()
        let deadline = clock.now + (request.message.hasTimeout ? Duration(request.message.timeout) : .seconds(3600))
        while true {
            guard let operation = state.withLock({ $0.live(name)?.operation }) else { throw Self.notFound(name) }
            if operation.done || clock.now >= deadline {
                return try await onResponse(ClientResponse(message: operation))
            }
            do {
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                throw RPCError(code: .cancelled, message: "the client cancelled the call")
            }
        }
    }

    static func adding(_ duration: Duration, to time: Google_Protobuf_Timestamp) -> Google_Protobuf_Timestamp {
        let (seconds, attoseconds) = duration.components
        let nanos = Int64(time.nanos) + attoseconds / 1_000_000_000
        return Google_Protobuf_Timestamp(seconds: time.seconds + seconds + nanos / 1_000_000_000, nanos: Int32(nanos % 1_000_000_000))
    }
}

extension FakeLongrun: Longrun_V1_Producers.ClientProtocol {
    func createOperation<Result: Sendable>(
        request: ClientRequest<Longrun_V1_CreateOperationRequest>,
        serializer: some MessageSerializer<Longrun_V1_CreateOperationRequest>,
        deserializer: some MessageDeserializer<Google_Longrunning_Operation>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Longrunning_Operation>) async throws -> Result
    ) async throws -> Result {
        record("CreateOperation")
        let message = request.message
        let actor = Self.actor(request.metadata)
        let outcome = state.withLock { state -> Swift.Result<Google_Longrunning_Operation, RPCError> in
            if !message.requestID.isEmpty, let prior = state.requestIDs[message.requestID] {
                guard let stored = state.live(prior) else {
                    return .failure(RPCError(code: .notFound, message: "request_id '\(message.requestID)' created \(prior), deleted since"))
                }
                return .success(stored.operation)
            }
            let id = message.operationID.isEmpty ? "op-\(state.nextID)" : message.operationID
            state.nextID += 1
            let collection = message.parent.isEmpty ? "operations" : message.parent + "/operations"
            let name = "\(collection)/\(id)"
            guard state.operations[name] == nil else {
                return .failure(RPCError(code: .alreadyExists, message: "operation \(name) already exists"))
            }
            let stored = state.create(
                name: name, metadata: message.hasMetadata ? message.metadata : nil,
                cancellation: message.hasCancellation ? message.cancellation : nil, requestID: message.requestID, actor: actor
            )
            return .success(stored.operation)
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }

    func updateOperation<Result: Sendable>(
        request: ClientRequest<Longrun_V1_UpdateOperationRequest>,
        serializer: some MessageSerializer<Longrun_V1_UpdateOperationRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_UpdateOperationResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_UpdateOperationResponse>) async throws -> Result
    ) async throws -> Result {
        record("UpdateOperation")
        let message = request.message
        let outcome = state.withLock { state -> Swift.Result<Longrun_V1_UpdateOperationResponse, RPCError> in
            guard let stored = state.live(message.name) else { return .failure(Self.notFound(message.name)) }
            guard !stored.operation.done else {
                return .failure(RPCError(code: .failedPrecondition, message: "operation \(message.name) is done"))
            }
            if message.hasExpectedVersion && message.expectedVersion != stored.version {
                return .failure(RPCError(code: .aborted, message: "operation \(message.name) is at version \(stored.version), not the expected \(message.expectedVersion)"))
            }
            state.transition(message.name) { stored in
                if message.hasMetadata { stored.operation.metadata = message.metadata } else { stored.operation.clearMetadata() }
            }
            let updated = state.operations[message.name]!
            return .success(.with {
                $0.operation = updated.operation
                $0.version = updated.version
                $0.cancelRequested = updated.cancelRequested
            })
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }

    /// Leases are not modelled: a heartbeat answers the version and cancellation like an update
    /// that changes nothing, without an expire time.
    func heartbeat<Result: Sendable>(
        request: ClientRequest<Longrun_V1_HeartbeatRequest>,
        serializer: some MessageSerializer<Longrun_V1_HeartbeatRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_HeartbeatResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_HeartbeatResponse>) async throws -> Result
    ) async throws -> Result {
        record("Heartbeat")
        let message = request.message
        let outcome = state.withLock { state -> Swift.Result<Longrun_V1_HeartbeatResponse, RPCError> in
            guard let stored = state.live(message.name) else { return .failure(Self.notFound(message.name)) }
            guard !stored.operation.done else {
                return .failure(RPCError(code: .failedPrecondition, message: "operation \(message.name) is done"))
            }
            return .success(.with {
                $0.version = stored.version
                $0.cancelRequested = stored.cancelRequested
            })
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }

    func adoptOperation<Result: Sendable>(
        request: ClientRequest<Longrun_V1_AdoptOperationRequest>,
        serializer: some MessageSerializer<Longrun_V1_AdoptOperationRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_UpdateOperationResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_UpdateOperationResponse>) async throws -> Result
    ) async throws -> Result {
        record("AdoptOperation")
        let message = request.message
        let outcome = state.withLock { state -> Swift.Result<Longrun_V1_UpdateOperationResponse, RPCError> in
            guard let stored = state.live(message.name) else { return .failure(Self.notFound(message.name)) }
            guard !stored.operation.done else {
                return .failure(RPCError(code: .failedPrecondition, message: "operation \(message.name) is done"))
            }
            guard message.expectedVersion == stored.version else {
                return .failure(RPCError(code: .aborted, message: "operation \(message.name) is at version \(stored.version), not the expected \(message.expectedVersion)"))
            }
            state.transition(message.name) { _ in }
            let adopted = state.operations[message.name]!
            return .success(.with {
                $0.operation = adopted.operation
                $0.version = adopted.version
                $0.cancelRequested = adopted.cancelRequested
            })
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }

    func completeOperation<Result: Sendable>(
        request: ClientRequest<Longrun_V1_CompleteOperationRequest>,
        serializer: some MessageSerializer<Longrun_V1_CompleteOperationRequest>,
        deserializer: some MessageDeserializer<Google_Longrunning_Operation>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Google_Longrunning_Operation>) async throws -> Result
    ) async throws -> Result {
        record("CompleteOperation")
        let message = request.message
        let outcome = state.withLock { state -> Swift.Result<Google_Longrunning_Operation, RPCError> in
            guard let stored = state.live(message.name) else { return .failure(Self.notFound(message.name)) }
            guard !stored.operation.done else {
                return .failure(RPCError(code: .failedPrecondition, message: "operation \(message.name) is done"))
            }
            guard let result = message.result else { return .failure(RPCError(code: .invalidArgument, message: "no result")) }
            switch result {
            case .response(let response): state.complete(message.name, with: .response(response))
            case .error(let error): state.complete(message.name, with: .error(error))
            }
            return .success(state.operations[message.name]!.operation)
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }

    func streamTransitions<Result: Sendable>(
        request: StreamingClientRequest<Longrun_V1_TransitionRequest>,
        serializer: some MessageSerializer<Longrun_V1_TransitionRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_TransitionResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (StreamingClientResponse<Longrun_V1_TransitionResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }
}

extension FakeLongrun: Longrun_V1_History.ClientProtocol {
    func listOperationEvents<Result: Sendable>(
        request: ClientRequest<Longrun_V1_ListOperationEventsRequest>,
        serializer: some MessageSerializer<Longrun_V1_ListOperationEventsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_ListOperationEventsResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_ListOperationEventsResponse>) async throws -> Result
    ) async throws -> Result {
        record("ListOperationEvents")
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func watchOperations<Result: Sendable>(
        request: ClientRequest<Longrun_V1_WatchOperationsRequest>,
        serializer: some MessageSerializer<Longrun_V1_WatchOperationsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_OperationEvent>,
        options: CallOptions,
        onResponse: @Sendable @escaping (StreamingClientResponse<Longrun_V1_OperationEvent>) async throws -> Result
    ) async throws -> Result {
        record("WatchOperations")
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func getOperationDetails<Result: Sendable>(
        request: ClientRequest<Longrun_V1_GetOperationDetailsRequest>,
        serializer: some MessageSerializer<Longrun_V1_GetOperationDetailsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_OperationDetails>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_OperationDetails>) async throws -> Result
    ) async throws -> Result {
        let name = request.message.name
        let delay = state.withLock { state -> Duration in
            state.calls.append("GetOperationDetails")
            state.detailsInFlight += 1
            state.maxDetailsInFlight = max(state.maxDetailsInFlight, state.detailsInFlight)
            return state.detailsDelay
        }
        defer { state.withLock { $0.detailsInFlight -= 1 } }
        if delay > .zero { try await Task.sleep(for: delay) }
        let outcome = state.withLock { state -> Swift.Result<Longrun_V1_OperationDetails, RPCError> in
            guard state.detailsImplemented else {
                return .failure(RPCError(code: .unimplemented, message: "Unimplemented RPC longrun.v1.History/GetOperationDetails"))
            }
            if state.failingDetails > 0 {
                state.failingDetails -= 1
                return .failure(RPCError(code: .unavailable, message: "try again"))
            }
            guard !name.isEmpty, name.contains("/operations/") || name.hasPrefix("operations/") else {
                return .failure(RPCError(code: .invalidArgument, message: "malformed operation name '\(name)'"))
            }
            guard let stored = state.live(name) else { return .failure(Self.notFound(name)) }
            state.onDetails?(&state)
            return .success(stored.details)
        }
        return try await onResponse(ClientResponse(message: try outcome.get()))
    }
}

extension FakeLongrun: Longrun_V1_Admin.ClientProtocol {
    func takeSnapshot<Result: Sendable>(
        request: ClientRequest<Longrun_V1_TakeSnapshotRequest>,
        serializer: some MessageSerializer<Longrun_V1_TakeSnapshotRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_TakeSnapshotResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_TakeSnapshotResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func setHold<Result: Sendable>(
        request: ClientRequest<Longrun_V1_SetHoldRequest>,
        serializer: some MessageSerializer<Longrun_V1_SetHoldRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_OperationDetails>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_OperationDetails>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func getServerInfo<Result: Sendable>(
        request: ClientRequest<Longrun_V1_GetServerInfoRequest>,
        serializer: some MessageSerializer<Longrun_V1_GetServerInfoRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_ServerInfo>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_ServerInfo>) async throws -> Result
    ) async throws -> Result {
        record("GetServerInfo")
        return try await onResponse(ClientResponse(message: .with { $0.version = "fake" }))
    }

    func scrub<Result: Sendable>(
        request: ClientRequest<Longrun_V1_ScrubRequest>,
        serializer: some MessageSerializer<Longrun_V1_ScrubRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_IntegrityStatus>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_IntegrityStatus>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func repair<Result: Sendable>(
        request: ClientRequest<Longrun_V1_RepairRequest>,
        serializer: some MessageSerializer<Longrun_V1_RepairRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_RepairResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_RepairResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func listCollections<Result: Sendable>(
        request: ClientRequest<Longrun_V1_ListCollectionsRequest>,
        serializer: some MessageSerializer<Longrun_V1_ListCollectionsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_ListCollectionsResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_ListCollectionsResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func cancelOperations<Result: Sendable>(
        request: ClientRequest<Longrun_V1_BulkOperationsRequest>,
        serializer: some MessageSerializer<Longrun_V1_BulkOperationsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_BulkOperationsResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_BulkOperationsResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }

    func deleteOperations<Result: Sendable>(
        request: ClientRequest<Longrun_V1_BulkOperationsRequest>,
        serializer: some MessageSerializer<Longrun_V1_BulkOperationsRequest>,
        deserializer: some MessageDeserializer<Longrun_V1_BulkOperationsResponse>,
        options: CallOptions,
        onResponse: @Sendable @escaping (ClientResponse<Longrun_V1_BulkOperationsResponse>) async throws -> Result
    ) async throws -> Result {
        throw RPCError(code: .unimplemented, message: "not in the fake")
    }
}
