import GRPCCore
public import LongrunProto
import SwiftProtobuf

/// `longrun.v1.History`: an operation's events, the event stream and operation details.
extension LongrunClient {
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
}
