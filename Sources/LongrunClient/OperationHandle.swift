public import LongrunProto
public import SwiftProtobuf

/// Why an operation did not yield the response a consumer wanted.
public enum OperationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation was cancelled: its `error.code` is `CANCELLED` (1).
    case cancelled(name: String, status: Google_Rpc_Status)
    /// The operation failed with this `error` (any code but OK and CANCELLED).
    case failed(name: String, status: Google_Rpc_Status)
    /// The response (or metadata) holds another message type than the one asked for.
    case unexpectedType(name: String, field: String, expected: String, actual: String)
    /// The response (or metadata) has the right type URL but its bytes do not decode.
    case undecodable(name: String, field: String, typeURL: String, reason: String)
    /// The operation is done but has neither a response nor an error.
    case noResult(name: String)
    /// The operation is not done (yet): asked for a result too early or the wait timed out.
    case notDone(name: String)

    /// The operation's `error`, for ``cancelled(name:status:)`` and ``failed(name:status:)``.
    public var status: Google_Rpc_Status? {
        switch self {
        case .cancelled(_, let status), .failed(_, let status): status
        default: nil
        }
    }

    /// The code of the operation's `error`, when it has one.
    public var code: StatusCode? { status.map { StatusCode(rawValue: $0.code) } }

    /// The `google.rpc.ErrorInfo` among the operation error's details, if any.
    public var errorInfo: Google_Rpc_ErrorInfo? {
        status?.details.lazy.compactMap { try? Google_Rpc_ErrorInfo(unpackingAny: $0) }.first
    }

    public var description: String {
        switch self {
        case .cancelled(let name, let status):
            return "operation \(name) was cancelled" + (status.message.isEmpty ? "" : ": \(status.message)")
        case .failed(let name, let status):
            var text = "operation \(name) failed: \(StatusCode(rawValue: status.code)): \(status.message)"
            if let reason = errorInfo?.reason, !reason.isEmpty { text += " (\(reason))" }
            return text
        case .unexpectedType(let name, let field, let expected, let actual):
            return "operation \(name): \(field) is \(actual.isEmpty ? "untyped" : actual), expected type \(expected)"
        case .undecodable(let name, let field, let typeURL, let reason):
            return "operation \(name): \(field) of type \(typeURL) does not decode: \(reason)"
        case .noResult(let name):
            return "operation \(name) is done but has neither a response nor an error"
        case .notDone(let name):
            return "operation \(name) is not done"
        }
    }
}

/// One observed state of an operation, with typed access to its metadata and result.
public struct OperationSnapshot<Response: SwiftProtobuf.Message, Metadata: SwiftProtobuf.Message>: Sendable {
    /// The operation as the server returned it.
    public let operation: Google_Longrunning_Operation

    public init(_ operation: Google_Longrunning_Operation) {
        self.operation = operation
    }

    public var name: String { operation.name }
    public var done: Bool { operation.done }

    /// The metadata decoded as `Metadata`; nil when the operation has none. Throws
    /// ``OperationError/unexpectedType(name:field:expected:actual:)`` if it holds another type.
    public var metadata: Metadata? {
        get throws {
            guard operation.hasMetadata else { return nil }
            return try unpack(operation.metadata, as: Metadata.self, operation: name, field: "metadata")
        }
    }

    /// The response decoded as `Response`, or the operation's error thrown as an
    /// ``OperationError`` (``OperationError/cancelled(name:status:)`` for code 1). Throws
    /// ``OperationError/notDone(name:)`` while the operation runs.
    public func result() throws -> Response {
        guard operation.done else { throw OperationError.notDone(name: name) }
        switch operation.result {
        case .response(let response):
            return try unpack(response, as: Response.self, operation: name, field: "response")
        case .error(let status) where status.code == StatusCode.cancelled.rawValue:
            throw OperationError.cancelled(name: name, status: status)
        case .error(let status):
            throw OperationError.failed(name: name, status: status)
        case nil:
            throw OperationError.noResult(name: name)
        }
    }
}

/// A consumer's typed handle on one operation: read its state and metadata, wait for its result,
/// cancel or delete it.
///
/// ```swift
/// let build = client.operation("operations/build-42", response: BuildResult.self, metadata: BuildProgress.self)
/// let result = try await build.result()   // waits; throws OperationError.cancelled / .failed
/// ```
public struct OperationHandle<Response: SwiftProtobuf.Message, Metadata: SwiftProtobuf.Message>: Sendable {
    /// The operation's full name.
    public let name: String
    public let client: LongrunClient

    public init(name: String, client: LongrunClient) {
        self.name = name
        self.client = client
    }

    /// `GetOperation`: the current state.
    public func refresh() async throws -> OperationSnapshot<Response, Metadata> {
        OperationSnapshot(try await client.getOperation(name))
    }

    /// `GetOperationDetails`: the current state (`operation`; wrap it in an ``OperationSnapshot``
    /// for typed access) with its version, cancel request (`cancel_requested`, `cancel_reason`,
    /// `cancel_deadline`), times and creator. `NOT_FOUND` once deleted.
    public func details() async throws -> Longrun_V1_OperationDetails {
        try await client.details(name)
    }

    /// The current metadata (a `GetOperation`), decoded; nil when the operation has none.
    public var metadata: Metadata? {
        get async throws { try await refresh().metadata }
    }

    /// `CancelOperation`. Cooperative operations keep running until their producer stops: use
    /// ``result()`` to see how it ended.
    public func cancel(reason: String? = nil) async throws {
        try await client.cancelOperation(name, reason: reason)
    }

    /// `DeleteOperation`.
    public func delete() async throws {
        try await client.deleteOperation(name)
    }

    /// One `WaitOperation`: the state once done, or when `timeout` elapses.
    public func wait(timeout: Duration) async throws -> OperationSnapshot<Response, Metadata> {
        OperationSnapshot(try await client.waitOperation(name, timeout: timeout))
    }

    /// Waits until the operation is done (or `timeout` passes) and returns its last state. See
    /// ``LongrunClient/waitUntilDone(_:timeout:perCallTimeout:onUpdate:)``.
    public func waitUntilDone(
        timeout: Duration? = nil,
        onUpdate: (@Sendable (OperationSnapshot<Response, Metadata>) async -> Void)? = nil
    ) async throws -> OperationSnapshot<Response, Metadata> {
        let operation = try await client.waitUntilDone(name, timeout: timeout) { operation in
            await onUpdate?(OperationSnapshot(operation))
        }
        return OperationSnapshot(operation)
    }

    /// Waits until the operation is done and returns its response.
    ///
    /// Loops `WaitOperation` (``LongrunClient/waitCallTimeout`` per call; polls `GetOperation` with
    /// exponential backoff if the server does not implement it), honouring Task cancellation.
    /// Throws ``OperationError/cancelled(name:status:)`` or ``OperationError/failed(name:status:)``
    /// if the operation ended with an error, ``OperationError/unexpectedType(name:field:expected:actual:)``
    /// if its response is not a `Response`, ``OperationError/notDone(name:)`` if `timeout` passed,
    /// and ``LongrunClientError`` for RPC failures (e.g. `NOT_FOUND` once deleted).
    public func result(timeout: Duration? = nil) async throws -> Response {
        try await waitUntilDone(timeout: timeout).result()
    }
}
