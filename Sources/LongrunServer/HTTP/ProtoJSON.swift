import Foundation
import GRPCCore
import LongrunDefaults
import LongrunProto
import SwiftProtobuf

/// Proto3 JSON for the HTTP gateway's responses, by SwiftProtobuf, with one fallback for what
/// proto3 JSON cannot say.
///
/// An `Any` is rendered by decoding its bytes as the type its URL names, which SwiftProtobuf can
/// do only for a type compiled into the daemon and registered (the well-known types, and the
/// `google.rpc` error details registered here): for any other type `jsonString()` throws
/// (`anyTranscodeFailure`). The descriptors reflection serves (``DescriptorIndex``) name the
/// daemon's own messages but cannot decode anything (SwiftProtobuf has no dynamic messages), and
/// producers choose their own metadata and response types, so such an `Any` is common. Rather
/// than failing the whole request, it is rendered as `{"@type": URL, "value": BASE64}`: the
/// binary value, standard base64 as proto3 JSON writes bytes (docs/API.md#http-json).
enum ProtoJSON {
    /// The `google.rpc` error details, so the `ErrorInfo` of every error renders as JSON.
    private static let registeredErrorDetails: Bool = {
        let types: [any SwiftProtobuf.Message.Type] = [
            Google_Rpc_ErrorInfo.self, Google_Rpc_RetryInfo.self, Google_Rpc_DebugInfo.self, Google_Rpc_QuotaFailure.self,
            Google_Rpc_PreconditionFailure.self, Google_Rpc_BadRequest.self, Google_Rpc_RequestInfo.self,
            Google_Rpc_ResourceInfo.self, Google_Rpc_Help.self, Google_Rpc_LocalizedMessage.self,
        ]
        for type in types { Google_Protobuf_Any.register(messageType: type) }
        return true
    }()

    /// An `Any` as proto3 JSON, or as the fallback object when its type is not known here.
    static func render(_ any: Google_Protobuf_Any) -> String {
        _ = registeredErrorDetails
        if let json = try? any.jsonString() { return json }
        return "{\"@type\":\(JSONString.quote(any.typeURL)),\"value\":\(JSONString.quote(any.value.base64EncodedString()))}"
    }

    static func render(_ status: Google_Rpc_Status) -> String {
        var plain = status
        plain.details = []
        return splice(try? plain.jsonString(), status.details.isEmpty ? [] : [("details", renderArray(status.details.map(render)))])
    }

    static func render(_ operation: Google_Longrunning_Operation) -> String {
        _ = registeredErrorDetails
        if let json = try? operation.jsonString() { return json }
        // Some Any in it is of an unknown type: render the rest by SwiftProtobuf, and each Any here.
        var plain = operation
        var fields: [(String, String)] = []
        if operation.hasMetadata {
            plain.clearMetadata()
            fields.append(("metadata", render(operation.metadata)))
        }
        switch operation.result {
        case .response(let response):
            plain.result = nil
            fields.append(("response", render(response)))
        case .error(let error):
            plain.result = nil
            fields.append(("error", render(error)))
        case nil:
            break
        }
        return splice(try? plain.jsonString(), fields)
    }

    static func render(_ response: Google_Longrunning_ListOperationsResponse) -> String {
        _ = registeredErrorDetails
        if let json = try? response.jsonString() { return json }
        var plain = response
        plain.operations = []
        return splice(try? plain.jsonString(), [("operations", renderArray(response.operations.map(render)))])
    }

    /// Google's JSON error shape, `{"error": {"code": HTTP status, "message", "status": the
    /// canonical code's name, "details": [...]}}`, for a status from ``ErrorMapping``.
    static func errorBody(_ status: Google_Rpc_Status, httpStatus: Int) -> String {
        let code = Status.Code(rawValue: Int(status.code)).flatMap(RPCError.Code.init) ?? .unknown
        var fields = [("code", String(httpStatus)), ("message", JSONString.quote(status.message)),
                      ("status", JSONString.quote(AccessLog.canonicalName(code)))]
        if !status.details.isEmpty { fields.append(("details", renderArray(status.details.map(render)))) }
        return "{\"error\":" + splice("{}", fields) + "}\n"
    }

    private static func renderArray(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }

    /// `object` (a JSON object as SwiftProtobuf writes it) with `fields` added at its end.
    private static func splice(_ object: String?, _ fields: [(String, String)]) -> String {
        var text = object ?? "{}"
        guard !fields.isEmpty, text.last == "}" else { return text }
        text.removeLast()
        var separator = text.trimmingCharacters(in: .whitespaces) == "{" ? "" : ","
        for (name, value) in fields {
            text += separator + JSONString.quote(name) + ":" + value
            separator = ","
        }
        return text + "}"
    }
}
