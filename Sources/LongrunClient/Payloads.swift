import LongrunProto
import SwiftProtobuf

/// Registers message types with SwiftProtobuf's `Any` registry, so `Any`s holding them can be
/// converted to and from JSON (`jsonString()`, JSON with `"@type"`). The well-known types
/// (`google.protobuf.*`) are always registered.
public enum LongrunTypes {
    /// Registers `google.rpc.*` (Status and the error details), `google.longrunning.*` and
    /// `longrun.v1.*` messages. Idempotent and cheap after the first call.
    public static func registerAll() {
        _ = registration
    }

    /// Registers your own message types (e.g. your operations' metadata and responses) so the
    /// CLI helpers and JSON output can show them.
    public static func register(_ types: [any SwiftProtobuf.Message.Type]) {
        for type in types { Google_Protobuf_Any.register(messageType: type) }
    }

    private static let registration: Void = {
        register([
            Google_Rpc_Status.self, Google_Rpc_ErrorInfo.self, Google_Rpc_RetryInfo.self,
            Google_Rpc_DebugInfo.self, Google_Rpc_QuotaFailure.self, Google_Rpc_PreconditionFailure.self,
            Google_Rpc_BadRequest.self, Google_Rpc_RequestInfo.self, Google_Rpc_ResourceInfo.self,
            Google_Rpc_Help.self, Google_Rpc_LocalizedMessage.self,
            Google_Longrunning_Operation.self, Google_Longrunning_GetOperationRequest.self,
            Google_Longrunning_ListOperationsRequest.self, Google_Longrunning_ListOperationsResponse.self,
            Google_Longrunning_CancelOperationRequest.self, Google_Longrunning_DeleteOperationRequest.self,
            Google_Longrunning_WaitOperationRequest.self, Google_Longrunning_OperationInfo.self,
            Longrun_V1_TakeSnapshotRequest.self, Longrun_V1_TakeSnapshotResponse.self,
            Longrun_V1_GetServerInfoRequest.self, Longrun_V1_ServerInfo.self,
            Longrun_V1_CancellationOptions.self, Longrun_V1_OperationEvent.self, Longrun_V1_Actor.self,
            Longrun_V1_ListOperationEventsRequest.self, Longrun_V1_ListOperationEventsResponse.self,
            Longrun_V1_WatchOperationsRequest.self, Longrun_V1_GetOperationDetailsRequest.self,
            Longrun_V1_OperationDetails.self, Longrun_V1_CreateOperationRequest.self,
            Longrun_V1_UpdateOperationRequest.self, Longrun_V1_UpdateOperationResponse.self,
            Longrun_V1_CompleteOperationRequest.self, Longrun_V1_TransitionRequest.self,
            Longrun_V1_TransitionResponse.self,
        ])
    }()
}

extension Google_Protobuf_Any {
    /// The full message name of the type URL: what follows its last `/`
    /// (`type.googleapis.com/google.protobuf.Struct` → `google.protobuf.Struct`).
    public var messageName: String {
        guard let slash = typeURL.lastIndex(of: "/") else { return typeURL }
        return String(typeURL[typeURL.index(after: slash)...])
    }
}

/// `message` packed into an `Any`; an `Any` is returned as it is (not wrapped in another).
func pack(_ message: some SwiftProtobuf.Message) throws -> Google_Protobuf_Any {
    if let any = message as? Google_Protobuf_Any { return any }
    return try Google_Protobuf_Any(message: message)
}

/// Decodes `any` as `M`, checking its type URL first.
func unpack<M: SwiftProtobuf.Message>(_ any: Google_Protobuf_Any, as type: M.Type, operation: String, field: String) throws -> M {
    guard any.isA(M.self) else {
        throw OperationError.unexpectedType(
            name: operation, field: field, expected: M.protoMessageName, actual: any.typeURL
        )
    }
    do {
        return try M(serializedBytes: any.value)
    } catch {
        throw OperationError.undecodable(name: operation, field: field, typeURL: any.typeURL, reason: "\(error)")
    }
}
