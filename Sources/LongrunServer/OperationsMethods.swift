import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire

/// The `google.longrunning.Operations` methods that have an HTTP binding, one function each, from
/// request message to response message. Both transports call these, the gRPC service
/// (``OperationsService``) and the HTTP/JSON gateway (``HTTPGateway``), so a call means the same
/// whichever way it arrives; each transport only converts its wire form, and a thrown error
/// carries its own status (``GoogleRPCStatusConvertible``).
struct OperationsMethods: Sendable {
    let engine: LongrunEngine

    func list(_ request: Google_Longrunning_ListOperationsRequest, call: CallContext) async throws -> Google_Longrunning_ListOperationsResponse {
        // `return_partial_success` is accepted and changes nothing: every collection lives in one
        // consistent store (LMDB, or one PostgreSQL database), answered by one read, so a part is
        // never unreachable while the rest answers. A store that cannot be read fails the whole
        // call (UNAVAILABLE), with or without it; `unreachable` stays empty.
        Self.response(try await engine.list(Self.listRequest(request), access: call.access))
    }

    /// ``list(_:call:)`` without suspending, for the event loop (``UnaryFastPath``), when the engine
    /// answers it so (``LongrunEngine/listImmediately(_:access:)``); nil, having read nothing,
    /// otherwise. Only when the engine ``LongrunEngine/readsImmediately``. The response serialized
    /// (``listOperationsResponseBytes(_:nextPageToken:)``: the bytes of ``list(_:call:)``'s).
    func listImmediately(_ request: Google_Longrunning_ListOperationsRequest, call: CallContext) throws -> [UInt8]? {
        try engine.listImmediately(Self.listRequest(request), access: call.access).map { page in
            listOperationsResponseBytes(page.operations, nextPageToken: page.nextPageToken)
        }
    }

    /// ``list(_:call:)`` serialized (``listOperationsResponseBytes(_:nextPageToken:)``), for the
    /// server's fast path when ``listImmediately(_:call:)`` leaves a page to a task.
    func listBytes(_ request: Google_Longrunning_ListOperationsRequest, call: CallContext) async throws -> [UInt8] {
        let page = try await engine.list(Self.listRequest(request), access: call.access)
        return listOperationsResponseBytes(page.operations, nextPageToken: page.nextPageToken)
    }

    private static func listRequest(_ request: Google_Longrunning_ListOperationsRequest) -> ListRequest {
        ListRequest(name: request.name, filter: request.filter, pageSize: request.pageSize, pageToken: request.pageToken)
    }

    private static func response(_ page: ListResponse) -> Google_Longrunning_ListOperationsResponse {
        var response = Google_Longrunning_ListOperationsResponse()
        response.operations = page.operations.map(\.proto)
        response.nextPageToken = page.nextPageToken
        return response
    }

    func get(_ request: Google_Longrunning_GetOperationRequest, call: CallContext) async throws -> Google_Longrunning_Operation {
        try await engine.get(OperationName(parsing: request.name), access: call.access).proto
    }

    /// ``get(_:call:)`` without suspending, for the event loop (``UnaryFastPath``); only when the
    /// engine ``LongrunEngine/readsImmediately``. The operation serialized
    /// (``LongrunDomain/OperationState/operationBytes``: the bytes of ``get(_:call:)``'s).
    func getImmediately(_ request: Google_Longrunning_GetOperationRequest, call: CallContext) throws -> [UInt8] {
        try engine.getImmediately(OperationName(parsing: request.name), access: call.access).operationBytes
    }

    func delete(_ request: Google_Longrunning_DeleteOperationRequest, call: CallContext) async throws {
        _ = try await engine.submit(Self.command(request), actor: call.actor, access: call.access)
    }

    func cancel(_ request: Google_Longrunning_CancelOperationRequest, call: CallContext) async throws {
        _ = try await engine.submit(Self.command(request, call: call), actor: call.actor, access: call.access)
    }

    /// The command a DeleteOperation queues, whichever path it came by (``UnaryFastPath`` too).
    static func command(_ request: Google_Longrunning_DeleteOperationRequest) throws -> Command {
        .delete(name: try OperationName(parsing: request.name))
    }

    /// The command a CancelOperation queues: the reason is the call's `longrun-cancel-reason`.
    static func command(_ request: Google_Longrunning_CancelOperationRequest, call: CallContext) throws -> Command {
        .cancel(name: try OperationName(parsing: request.name), reason: call.cancelReason)
    }
}
