import Foundation
import GRPCCore
import LongrunDefaults
import LongrunProto
import SwiftProtobuf

/// Proto3 JSON for the HTTP gateway's responses, by SwiftProtobuf, with each `Any` as ``AnyJSON``
/// writes it: the mapping for the types compiled into the daemon and registered (the well-known
/// types, `google.rpc`, `google.longrunning`, `longrun.v1`), and `{"@type": URL, "value": BASE64}`
/// for the producers' own types, which the daemon cannot decode, rather than failing the whole
/// request (docs/API.md#http-json).
enum ProtoJSON {
    /// An `Any` as proto3 JSON, or as the fallback object when its type is not known here.
    static func render(_ any: Google_Protobuf_Any) -> String {
        AnyJSON.render(any)
    }

    static func render(_ status: Google_Rpc_Status) -> String {
        var plain = status
        plain.details = []
        return splice(try? plain.jsonString(), status.details.isEmpty ? [] : [("details", renderArray(status.details.map(render)))])
    }

    static func render(_ operation: Google_Longrunning_Operation) -> String {
        LongrunTypes.registerAll()
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
        LongrunTypes.registerAll()
        if let json = try? response.jsonString() { return json }
        var plain = response
        plain.operations = []
        return splice(try? plain.jsonString(), [("operations", renderArray(response.operations.map(render)))])
    }

    /// Google's JSON error shape, `{"error": {"code": HTTP status, "message", "status": the
    /// canonical code's name, "details": [...]}}`, for the status an error decides (``GoogleRPCStatusConvertible``).
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
