import Foundation
import LongrunDefaults
public import SwiftProtobuf

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

/// The JSON of one `google.protobuf.Any`, for every JSON Longrun prints (the CLI's output, the
/// daemon's HTTP gateway).
///
/// The protobuf JSON mapping of an `Any` decodes its bytes as the type its URL names, which
/// SwiftProtobuf can do only for types compiled in and registered (``LongrunTypes``, the
/// well-known types); producers choose their own metadata and response types, so an `Any` of an
/// unknown type is common. Rather than failing, it is written `{"@type": URL, "value": BASE64}`:
/// its serialized bytes, in standard base64 as the mapping writes bytes.
public enum AnyJSON {
    /// The mapping's JSON for `any`, or nil if SwiftProtobuf cannot print it.
    public static func mapped(_ any: Google_Protobuf_Any, options: JSONEncodingOptions = JSONEncodingOptions()) -> String? {
        LongrunTypes.registerAll()
        return try? any.jsonString(options: options)
    }

    /// The fallback form: the type URL and the serialized bytes in base64.
    public static func raw(_ any: Google_Protobuf_Any) -> String {
        "{\"@type\":\(JSONString.quote(any.typeURL)),\"value\":\(JSONString.quote(any.value.base64EncodedString()))}"
    }

    /// ``mapped(_:options:)``, else ``raw(_:)``.
    public static func render(_ any: Google_Protobuf_Any, options: JSONEncodingOptions = JSONEncodingOptions()) -> String {
        mapped(any, options: options) ?? raw(any)
    }
}
