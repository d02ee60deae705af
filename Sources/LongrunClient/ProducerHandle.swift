import GRPCCore
import GRPCProtobuf
public import LongrunProto
public import SwiftProtobuf
import Synchronization

/// A producer's handle on one operation: report progress, learn of cancel requests, complete it.
///
/// ```swift
/// let producer = try await client.createOperation(.init(operationID: "build-42"))
/// let done = try await producer.run { producer in
///     for step in 1...10 {
///         try await producer.progress(metadata: progress(step))   // a cancel request cancels this Task
///         try await build(step)
///     }
///     return BuildResult()
/// }
/// ```
public final class ProducerHandle: Sendable {
    /// The operation's full name.
    public let name: String
    public let client: LongrunClient
    /// The operation as `CreateOperation` returned it (only the name for ``LongrunClient/producer(for:)``).
    public let created: Google_Longrunning_Operation

    struct State {
        var cancellationRequested = false
        var doneElsewhere = false
        var version: UInt64?
        var stopSignal: AsyncStream<Void>.Continuation?
    }

    /// What the handle has seen; shared with ``run(cancellationPollInterval:_:)``.
    let state = Mutex(State())

    init(operation: Google_Longrunning_Operation, client: LongrunClient) {
        self.name = operation.name
        self.created = operation
        self.client = client
    }

    /// Whether a cancel request has been seen (by ``progress(metadata:expectedVersion:)``,
    /// ``details()``, or the polling of ``run(cancellationPollInterval:_:)``).
    public var isCancellationRequested: Bool { state.withLock { $0.cancellationRequested } }

    /// The newest version of the operation this handle has seen (from `UpdateOperation` or
    /// `GetOperationDetails`), if any.
    public var version: UInt64? { state.withLock { $0.version } }

    /// The answer to ``progress(metadata:expectedVersion:)``.
    public struct Progress: Sendable {
        /// True once cancellation has been requested: stop and complete the operation.
        public var cancellationRequested: Bool
        /// The operation's version after the update.
        public var version: UInt64
        /// The operation after the update.
        public var operation: Google_Longrunning_Operation
    }

    /// `UpdateOperation` with new metadata.
    @discardableResult
    public func progress(metadata: some SwiftProtobuf.Message, expectedVersion: UInt64? = nil) async throws -> Progress {
        try await progress(metadataAny: try pack(metadata), expectedVersion: expectedVersion)
    }

    /// `UpdateOperation` with new metadata as an `Any` (nil clears the metadata). If it reports
    /// a cancel request, or fails because the operation is already done (`FAILED_PRECONDITION`),
    /// a running ``run(cancellationPollInterval:_:)`` cancels its work.
    @discardableResult
    public func progress(metadataAny: Google_Protobuf_Any?, expectedVersion: UInt64? = nil) async throws -> Progress {
        do {
            let response = try await client.updateOperation(name, metadata: metadataAny, expectedVersion: expectedVersion)
            state.withLock { state in
                state.version = max(state.version ?? 0, response.version)
                if response.cancelRequested {
                    state.cancellationRequested = true
                    state.stopSignal?.yield()
                }
            }
            // Called from this handle's running work: cancel it now, so its very next suspension
            // point throws, rather than when the run's monitor task gets scheduled.
            if response.cancelRequested, Self.runningWork == ObjectIdentifier(self) {
                withUnsafeCurrentTask { $0?.cancel() }
            }
            return Progress(cancellationRequested: response.cancelRequested, version: response.version, operation: response.operation)
        } catch let error as LongrunClientError where error.code == .failedPrecondition {
            markDoneElsewhere()
            throw error
        }
    }

    /// `CompleteOperation` with a response.
    @discardableResult
    public func complete(response: some SwiftProtobuf.Message) async throws -> Google_Longrunning_Operation {
        try await complete(responseAny: try pack(response))
    }

    /// `CompleteOperation` with a response given as an `Any`.
    @discardableResult
    public func complete(responseAny: Google_Protobuf_Any) async throws -> Google_Longrunning_Operation {
        try await client.completeOperation(name, response: responseAny)
    }

    /// `CompleteOperation` with an error (`code` must not be OK).
    @discardableResult
    public func fail(code: StatusCode, message: String, details: [Google_Protobuf_Any] = []) async throws -> Google_Longrunning_Operation {
        try await client.completeOperation(name, error: Google_Rpc_Status.with {
            $0.code = code.rawValue
            $0.message = message
            $0.details = details
        })
    }

    /// `GetOperationDetails`: the operation with its version, cancel request, times and creator.
    /// Records what it shows: a cancel request, or the operation being done already, stops the
    /// work of a running ``run(cancellationPollInterval:_:)`` (as ``progress(metadata:expectedVersion:)``
    /// does). Throws `NOT_FOUND` once the operation is deleted.
    @discardableResult
    public func details() async throws -> Longrun_V1_OperationDetails {
        let details = try await client.details(name)
        state.withLock { state in
            state.version = max(state.version ?? 0, details.version)
        }
        if details.operation.done { markDoneElsewhere() }
        if details.cancelRequested { markCancellationRequested() }
        return details
    }

    /// Asks the server (one ``details()``) whether cancellation was requested or the operation is
    /// already done: `GetOperation` cannot tell, `google.longrunning.Operation` has no field for a
    /// cooperative cancel request. Records what it finds.
    public func checkCancellation() async throws -> Bool {
        let details = try await details()
        return details.cancelRequested || details.operation.done
    }

    func markCancellationRequested() {
        state.withLock { state in
            state.cancellationRequested = true
            state.stopSignal?.yield()
        }
    }

    func markDoneElsewhere() {
        state.withLock { state in
            state.doneElsewhere = true
            state.stopSignal?.yield()
        }
    }

    /// Set inside the work of a running ``run(cancellationPollInterval:_:)``: the handle it belongs to.
    @TaskLocal static var runningWork: ObjectIdentifier?
}
