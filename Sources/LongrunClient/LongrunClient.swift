import GRPCCore
import LongrunProto
import SwiftProtobuf

/// A client of one `longrund`: typed access to its four services, the calls consumers and
/// producers need (errors mapped to ``LongrunClientError``), and operation handles.
///
/// Create one with ``withLongrunClient(socketPath:actor:_:)``, or wrap a running `GRPCClient` with
/// ``init(wrapping:actor:)``. The service clients are existentials, so tests can substitute their
/// own implementations (``init(operations:producers:history:admin:actor:)``).
public struct LongrunClient: Sendable {
    /// `google.longrunning.Operations`: get, list, wait for, cancel, delete.
    public let operations: any Google_Longrunning_Operations.ClientProtocol
    /// `longrun.v1.Producers`: create, update, complete (and `StreamTransitions`).
    public let producers: any Longrun_V1_Producers.ClientProtocol
    /// `longrun.v1.History`: operation events, the event stream and operation details.
    public let history: any Longrun_V1_History.ClientProtocol
    /// `longrun.v1.Admin`: snapshots and server information.
    public let admin: any Longrun_V1_Admin.ClientProtocol

    /// Sent as the `longrun-actor` request metadata of every call: the `Actor.label` of the events
    /// this client causes (e.g. a worker or host name). Nil or empty: not sent.
    public var actor: String?

    /// How long one `WaitOperation` call may wait (its `timeout`) in ``waitUntilDone(_:timeout:perCallTimeout:onUpdate:)``
    /// and ``OperationHandle/result()``.
    public var waitCallTimeout: Duration = .seconds(30)

    /// The polling schedule used when the server does not implement `WaitOperation`.
    public var pollBackoff = Backoff.polling

    public init<Transport: ClientTransport>(wrapping client: GRPCClient<Transport>, actor: String? = nil) {
        self.init(
            operations: Google_Longrunning_Operations.Client(wrapping: client),
            producers: Longrun_V1_Producers.Client(wrapping: client),
            history: Longrun_V1_History.Client(wrapping: client),
            admin: Longrun_V1_Admin.Client(wrapping: client),
            actor: actor
        )
    }

    public init(
        operations: any Google_Longrunning_Operations.ClientProtocol,
        producers: any Longrun_V1_Producers.ClientProtocol,
        history: any Longrun_V1_History.ClientProtocol,
        admin: any Longrun_V1_Admin.ClientProtocol,
        actor: String? = nil
    ) {
        self.operations = operations
        self.producers = producers
        self.history = history
        self.admin = admin
        self.actor = actor
    }

    /// The request metadata every call carries.
    var requestMetadata: Metadata {
        var metadata: Metadata = [:]
        if let actor, !actor.isEmpty { metadata.addString(actor, forKey: "longrun-actor") }
        return metadata
    }

    // MARK: Handles

    /// A typed handle on an existing operation, for consumers.
    public func operation<Response: SwiftProtobuf.Message, Metadata: SwiftProtobuf.Message>(
        _ name: String,
        response: Response.Type = Response.self,
        metadata: Metadata.Type = Metadata.self
    ) -> OperationHandle<Response, Metadata> {
        OperationHandle(name: name, client: self)
    }

    /// Creates an operation (`CreateOperation`) and returns a handle to drive it as its producer.
    public func createOperation(_ options: CreateOperationOptions = CreateOperationOptions()) async throws -> ProducerHandle {
        let request = options.request()
        let operation = try await mappingErrors {
            try await producers.createOperation(request, metadata: requestMetadata)
        }
        return ProducerHandle(operation: operation, client: self)
    }

    /// A producer handle on an operation created earlier (e.g. by another process).
    public func producer(for name: String) -> ProducerHandle {
        ProducerHandle(operation: Google_Longrunning_Operation.with { $0.name = name }, client: self)
    }

    // MARK: google.longrunning.Operations

    /// `GetOperation`: the operation's current state.
    public func getOperation(_ name: String) async throws -> Google_Longrunning_Operation {
        try await mappingErrors {
            try await operations.getOperation(.with { $0.name = name }, metadata: requestMetadata)
        }
    }

    /// `ListOperations`: one page of the operations in `collection` (`""`/`operations` for the root,
    /// `tenants/acme` or `tenants/acme/operations`).
    public func listOperations(
        in collection: String = "", filter: String = "", pageSize: Int32 = 0, pageToken: String = ""
    ) async throws -> Google_Longrunning_ListOperationsResponse {
        let request = Google_Longrunning_ListOperationsRequest.with {
            $0.name = collection
            $0.filter = filter
            $0.pageSize = pageSize
            $0.pageToken = pageToken
        }
        return try await mappingErrors {
            try await operations.listOperations(request, metadata: requestMetadata)
        }
    }

    /// `ListOperations`, every page (until an empty `next_page_token`), calling `body` with each page.
    public func forEachOperationPage(
        in collection: String = "", filter: String = "", pageSize: Int32 = 0, pageToken: String = "",
        _ body: ([Google_Longrunning_Operation]) async throws -> Void
    ) async throws {
        var token = pageToken
        repeat {
            let page = try await listOperations(in: collection, filter: filter, pageSize: pageSize, pageToken: token)
            try await body(page.operations)
            token = page.nextPageToken
        } while !token.isEmpty
    }

    /// `ListOperations`, every page, collected.
    public func listAllOperations(
        in collection: String = "", filter: String = "", pageSize: Int32 = 0
    ) async throws -> [Google_Longrunning_Operation] {
        var all: [Google_Longrunning_Operation] = []
        try await forEachOperationPage(in: collection, filter: filter, pageSize: pageSize) { all += $0 }
        return all
    }

    /// `CancelOperation`, with an optional reason (sent as `longrun-cancel-reason`, recorded in the
    /// `CancelRequested` event).
    public func cancelOperation(_ name: String, reason: String? = nil) async throws {
        var metadata = requestMetadata
        if let reason, !reason.isEmpty { metadata.addString(reason, forKey: "longrun-cancel-reason") }
        _ = try await mappingErrors {
            try await operations.cancelOperation(.with { $0.name = name }, metadata: metadata)
        }
    }

    /// `DeleteOperation`.
    public func deleteOperation(_ name: String) async throws {
        _ = try await mappingErrors {
            try await operations.deleteOperation(.with { $0.name = name }, metadata: requestMetadata)
        }
    }

    /// One `WaitOperation` call: the operation once done, or its state when `timeout` elapses.
    /// The RPC's own deadline is `timeout` plus a margin, so a server that overruns fails with
    /// `DEADLINE_EXCEEDED` rather than hanging.
    public func waitOperation(_ name: String, timeout: Duration?) async throws -> Google_Longrunning_Operation {
        let request = Google_Longrunning_WaitOperationRequest.with {
            $0.name = name
            if let timeout { $0.timeout = Google_Protobuf_Duration(rounding: max(timeout, .zero)) }
        }
        var options = CallOptions.defaults
        if let timeout { options.timeout = max(timeout, .zero) + .seconds(10) }
        return try await mappingErrors {
            try await operations.waitOperation(request, metadata: requestMetadata, options: options)
        }
    }

    /// Waits until the operation is done, or until `timeout` has passed, and returns its last state
    /// (check `done`).
    ///
    /// Loops `WaitOperation` with `perCallTimeout` (default ``waitCallTimeout``) per call. If the
    /// server answers `UNIMPLEMENTED`, falls back to polling `GetOperation` on ``pollBackoff``.
    /// `onUpdate` sees every state received, the last one included. Honours Task cancellation
    /// (throws `CancellationError`). RPC failures throw ``LongrunClientError``; a `WaitOperation`
    /// call ending with `DEADLINE_EXCEEDED` is retried.
    public func waitUntilDone(
        _ name: String,
        timeout: Duration? = nil,
        perCallTimeout: Duration? = nil,
        onUpdate: (@Sendable (Google_Longrunning_Operation) async -> Void)? = nil
    ) async throws -> Google_Longrunning_Operation {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        let perCall = perCallTimeout ?? waitCallTimeout
        var polling = false
        var delays = pollBackoff.delays()
        var last: Google_Longrunning_Operation?

        func remaining() -> Duration? { deadline.map { max($0 - clock.now, .zero) } }

        while true {
            try Task.checkCancellation()
            let operation: Google_Longrunning_Operation
            do {
                if polling {
                    operation = try await getOperation(name)
                } else {
                    let callTimeout = remaining().map { min($0, perCall) } ?? perCall
                    operation = try await waitOperation(name, timeout: callTimeout)
                }
            } catch let error as LongrunClientError where error.code == .unimplemented && !polling {
                polling = true
                continue
            } catch let error as LongrunClientError where error.code == .deadlineExceeded && !polling {
                try Task.checkCancellation()
                if let left = remaining(), left == .zero, let last { return last }
                continue
            } catch let error as LongrunClientError where error.code == .cancelled {
                try Task.checkCancellation()
                throw error
            }
            last = operation
            await onUpdate?(operation)
            if operation.done { return operation }
            if let left = remaining(), left == .zero { return operation }
            if polling {
                let delay = delays.next()
                try await Task.sleep(for: remaining().map { min($0, delay) } ?? delay)
            }
        }
    }

    // MARK: longrun.v1.Producers

    /// `UpdateOperation`: replaces the metadata (nil clears it).
    public func updateOperation(
        _ name: String, metadata: Google_Protobuf_Any?, expectedVersion: UInt64? = nil
    ) async throws -> Longrun_V1_UpdateOperationResponse {
        let request = Longrun_V1_UpdateOperationRequest.with {
            $0.name = name
            if let metadata { $0.metadata = metadata }
            if let expectedVersion { $0.expectedVersion = expectedVersion }
        }
        return try await mappingErrors {
            try await producers.updateOperation(request, metadata: requestMetadata)
        }
    }

    /// `Heartbeat`: renews the operation's lease; says until when and whether cancellation was requested.
    public func heartbeat(_ name: String) async throws -> Longrun_V1_HeartbeatResponse {
        try await mappingErrors {
            try await producers.heartbeat(.with { $0.name = name }, metadata: requestMetadata)
        }
    }

    /// `AdoptOperation`: takes the operation over at `expectedVersion`, holding its lease from now
    /// on (for `lease`, or the TTL the lease had).
    public func adoptOperation(_ name: String, expectedVersion: UInt64, lease: Duration? = nil) async throws -> Longrun_V1_UpdateOperationResponse {
        let request = Longrun_V1_AdoptOperationRequest.with {
            $0.name = name
            $0.expectedVersion = expectedVersion
            if let lease { $0.lease = Google_Protobuf_Duration(rounding: lease) }
        }
        return try await mappingErrors {
            try await producers.adoptOperation(request, metadata: requestMetadata)
        }
    }

    /// `CompleteOperation` with a response.
    public func completeOperation(_ name: String, response: Google_Protobuf_Any) async throws -> Google_Longrunning_Operation {
        try await completeOperation(.with {
            $0.name = name
            $0.response = response
        })
    }

    /// `CompleteOperation` with an error (its code must not be OK).
    public func completeOperation(_ name: String, error: Google_Rpc_Status) async throws -> Google_Longrunning_Operation {
        try await completeOperation(.with {
            $0.name = name
            $0.error = error
        })
    }

    func completeOperation(_ request: Longrun_V1_CompleteOperationRequest) async throws -> Google_Longrunning_Operation {
        try await mappingErrors {
            try await producers.completeOperation(request, metadata: requestMetadata)
        }
    }

    // MARK: longrun.v1.History

    /// `ListOperationEvents`: one page of an operation's events.
    public func listOperationEvents(
        _ name: String, pageSize: Int32 = 0, pageToken: String = ""
    ) async throws -> Longrun_V1_ListOperationEventsResponse {
        let request = Longrun_V1_ListOperationEventsRequest.with {
            $0.name = name
            $0.pageSize = pageSize
            $0.pageToken = pageToken
        }
        return try await mappingErrors {
            try await history.listOperationEvents(request, metadata: requestMetadata)
        }
    }

    /// `ListOperationEvents`, every page, calling `body` with each page.
    public func forEachOperationEventPage(
        _ name: String, pageSize: Int32 = 0,
        _ body: ([Longrun_V1_OperationEvent]) async throws -> Void
    ) async throws {
        var token = ""
        repeat {
            let page = try await listOperationEvents(name, pageSize: pageSize, pageToken: token)
            try await body(page.events)
            token = page.nextPageToken
        } while !token.isEmpty
    }

    /// `ListOperationEvents`, every page, collected.
    public func listAllOperationEvents(_ name: String, pageSize: Int32 = 0) async throws -> [Longrun_V1_OperationEvent] {
        var all: [Longrun_V1_OperationEvent] = []
        try await forEachOperationEventPage(name, pageSize: pageSize) { all += $0 }
        return all
    }

    /// `GetOperationDetails`: the operation with what `google.longrunning.Operation` does not carry:
    /// its version, whether and why cancellation was requested (and until when the producer has
    /// to stop), its times, its creator and its request id. A cheap point read on the server.
    ///
    /// Throws ``LongrunClientError`` `NOT_FOUND` for an unknown or deleted operation (its events
    /// stay readable with ``listOperationEvents(_:pageSize:pageToken:)``).
    public func details(_ name: String) async throws -> Longrun_V1_OperationDetails {
        try await mappingErrors {
            try await history.getOperationDetails(.with { $0.name = name }, metadata: requestMetadata)
        }
    }

    /// `WatchOperations`: calls `onEvent` with each event as it arrives. Returns only if the
    /// server ends the stream (it normally does not) or `onEvent` throws; stop it by cancelling the
    /// Task. A resume point outside the retained log fails with `OUT_OF_RANGE`.
    public func watchOperations(
        in collection: String = "",
        filter: String = "",
        afterSequence: UInt64 = 0,
        startAtHead: Bool = false,
        onEvent: @escaping @Sendable (Longrun_V1_OperationEvent) async throws -> Void
    ) async throws {
        let request = Longrun_V1_WatchOperationsRequest.with {
            $0.name = collection
            $0.filter = filter
            $0.afterSequence = afterSequence
            $0.startAtHead = startAtHead
        }
        try await mappingErrors {
            try await history.watchOperations(request, metadata: requestMetadata) { response in
                for try await event in response.messages {
                    try await onEvent(event)
                }
            }
        }
    }

    // MARK: longrun.v1.Admin

    /// `GetServerInfo`.
    public func serverInfo() async throws -> Longrun_V1_ServerInfo {
        try await mappingErrors {
            try await admin.getServerInfo(Longrun_V1_GetServerInfoRequest(), metadata: requestMetadata)
        }
    }

    /// `ListCollections`: one page of the collections that hold live operations.
    public func listCollections(
        matching name: String = "", pageSize: Int32 = 0, pageToken: String = ""
    ) async throws -> Longrun_V1_ListCollectionsResponse {
        let request = Longrun_V1_ListCollectionsRequest.with {
            $0.name = name
            $0.pageSize = pageSize
            $0.pageToken = pageToken
        }
        return try await mappingErrors {
            try await admin.listCollections(request, metadata: requestMetadata)
        }
    }

    /// `CancelOperations`: requests cancellation of every operation of `request.name` matching
    /// `request.filter`, each checked and recorded as its own cancel; returns what it did.
    public func cancelOperations(_ request: Longrun_V1_BulkOperationsRequest) async throws -> Longrun_V1_BulkOperationsResponse {
        try await mappingErrors { try await admin.cancelOperations(request, metadata: requestMetadata) }
    }

    /// `DeleteOperations`: deletes every operation of `request.name` matching `request.filter`,
    /// each checked and recorded as its own delete; returns what it did.
    public func deleteOperations(_ request: Longrun_V1_BulkOperationsRequest) async throws -> Longrun_V1_BulkOperationsResponse {
        try await mappingErrors { try await admin.deleteOperations(request, metadata: requestMetadata) }
    }

    /// `TakeSnapshot`.
    public func takeSnapshot() async throws -> Longrun_V1_TakeSnapshotResponse {
        try await mappingErrors {
            try await admin.takeSnapshot(Longrun_V1_TakeSnapshotRequest(), metadata: requestMetadata)
        }
    }

    /// `Scrub`: checks the whole store now and returns what the integrity checks know.
    public func scrub() async throws -> Longrun_V1_IntegrityStatus {
        try await mappingErrors {
            try await admin.scrub(Longrun_V1_ScrubRequest(), metadata: requestMetadata)
        }
    }

    /// `Repair`: rebuilds the named operations' views from the log (none: whatever a scrub finds).
    public func repair(_ names: [String] = []) async throws -> Longrun_V1_RepairResponse {
        try await mappingErrors {
            try await admin.repair(.with { $0.names = names }, metadata: requestMetadata)
        }
    }

    /// `SetHold`: `hold` true keeps the operation from expiring under retention; false releases it.
    public func setHold(_ name: String, hold: Bool, reason: String = "") async throws -> Longrun_V1_OperationDetails {
        try await mappingErrors {
            try await admin.setHold(.with {
                $0.name = name
                $0.hold = hold
                $0.reason = reason
            }, metadata: requestMetadata)
        }
    }
}

/// An exponential backoff schedule: `initial`, then ×`multiplier` per step, at most `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var multiplier: Double
    public var maximum: Duration

    public init(initial: Duration, multiplier: Double, maximum: Duration) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
    }

    /// 100 ms, ×1.5, at most 5 s: polling `GetOperation` when `WaitOperation` is unimplemented.
    public static let polling = Backoff(initial: .milliseconds(100), multiplier: 1.5, maximum: .seconds(5))

    /// The successive delays (an endless sequence).
    public func delays() -> Delays { Delays(next: initial, backoff: self) }

    public struct Delays: Sendable {
        var nextDelay: Duration
        let backoff: Backoff

        init(next: Duration, backoff: Backoff) {
            self.nextDelay = min(next, backoff.maximum)
            self.backoff = backoff
        }

        public mutating func next() -> Duration {
            let delay = nextDelay
            nextDelay = min(delay * backoff.multiplier, backoff.maximum)
            return delay
        }
    }
}
