import GRPCCore
public import LongrunProto
import SwiftProtobuf

/// `google.longrunning.Operations`: get, list, cancel, delete and wait for operations.
extension LongrunClient {
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
}
