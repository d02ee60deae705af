import Foundation
import LongrunDefaults
package import LongrunProto
package import SwiftProtobuf

/// One-line JSON for operations, events and responses: the protobuf JSON mapping (lowerCamelCase
/// keys, RFC 3339 times), with every field present (``CompleteJSON``) and 64-bit integers as
/// numbers, as docs/JSON.md describes for every tool.
///
/// Deterministic: the same message prints as the same bytes in every run. Map fields are printed
/// in key order, and each payload (every `Any`: metadata, response, error details) is printed
/// with the keys of its objects sorted, recursively (see ``SortedKeysJSON``), since SwiftProtobuf
/// prints a `google.protobuf.Struct` in the unstable order of a Swift `Dictionary`.
///
/// `Any`s print as ``AnyJSON`` writes them: the JSON mapping for registered types, otherwise
/// `{"@type": url, "value": base64}` with the serialized bytes.
package enum JSONOutput {
    package static func line(_ operation: Google_Longrunning_Operation) -> String {
        var rewriter = AnyRewriter()
        var copy = operation
        rewriter.fix(&copy)
        return rewriter.encode(copy)
    }

    package static func line(_ event: Longrun_V1_OperationEvent) -> String {
        var rewriter = AnyRewriter()
        var copy = event
        rewriter.fix(&copy)
        return rewriter.encode(copy)
    }

    package static func line(_ response: Longrun_V1_UpdateOperationResponse) -> String {
        var rewriter = AnyRewriter()
        var copy = response
        if copy.hasOperation { rewriter.fix(&copy.operation) }
        return rewriter.encode(copy)
    }

    package static func line(_ details: Longrun_V1_OperationDetails) -> String {
        var rewriter = AnyRewriter()
        var copy = details
        if copy.hasOperation { rewriter.fix(&copy.operation) }
        return rewriter.encode(copy)
    }

    /// For messages without `Any`s.
    package static func line<M: SwiftProtobuf.Message>(plain message: M) -> String {
        guard let json = try? message.jsonString(options: encodingOptions) else { return "{}" }
        return CompleteJSON.complete(json, messageName: M.protoMessageName)
    }

    /// SwiftProtobuf's JSON options for every output: map fields in key order, 64-bit integers as
    /// numbers (sequences and versions stay far below 2^53, where every JSON reader is exact).
    package static var encodingOptions: JSONEncodingOptions {
        var options = JSONEncodingOptions()
        options.useDeterministicOrdering = true
        options.alwaysPrintInt64sAsNumbers = true
        return options
    }

    /// The JSON of a printable `Any` (`{"@type":…,…}`) with its objects' keys sorted; nil if
    /// SwiftProtobuf cannot print it.
    package static func sortedJSON(_ any: Google_Protobuf_Any) -> String? {
        AnyJSON.mapped(any, options: encodingOptions).map(SortedKeysJSON.sorted)
    }

    /// A JSON string literal.
    package static func quote(_ text: String) -> String { JSONString.quote(text) }
}

/// Replaces every `Any` by an empty `Any` with a unique marker type URL, and after encoding the
/// marker's JSON by the `Any`'s own: with sorted keys, or the raw form if SwiftProtobuf cannot print it.
private struct AnyRewriter {
    private let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private var replacements: [(marker: String, json: String)] = []

    mutating func fix(_ any: inout Google_Protobuf_Any) {
        let json = JSONOutput.sortedJSON(any) ?? AnyJSON.raw(any)
        let markerURL = "longrun.invalid/any-\(token)-\(replacements.count)"
        replacements.append((marker: "{\"@type\":\"\(markerURL)\"}", json: json))
        any = Google_Protobuf_Any.with { $0.typeURL = markerURL }
    }

    mutating func fix(_ status: inout Google_Rpc_Status) {
        for index in status.details.indices { fix(&status.details[index]) }
    }

    mutating func fix(_ operation: inout Google_Longrunning_Operation) {
        if operation.hasMetadata { fix(&operation.metadata) }
        switch operation.result {
        case .response(var response):
            fix(&response)
            operation.response = response
        case .error(var status):
            fix(&status)
            operation.error = status
        case nil:
            break
        }
    }

    mutating func fix(_ event: inout Longrun_V1_OperationEvent) {
        if event.hasOperation { fix(&event.operation) }
        switch event.kind {
        case .created(var created):
            if created.hasMetadata { fix(&created.metadata) }
            event.created = created
        case .progressed(var progressed):
            if progressed.hasMetadata { fix(&progressed.metadata) }
            event.progressed = progressed
        case .completed(var completed):
            switch completed.result {
            case .response(var response):
                fix(&response)
                completed.response = response
            case .error(var status):
                fix(&status)
                completed.error = status
            case nil:
                break
            }
            event.completed = completed
        case .cancelRequested, .deleted, .expired, .holdSet, .holdReleased, .repaired, .leaseRenewed, .adopted, nil:
            break
        }
    }

    func encode<M: SwiftProtobuf.Message>(_ message: M) -> String {
        var json: String
        do {
            json = CompleteJSON.complete(try message.jsonString(options: JSONOutput.encodingOptions), messageName: M.protoMessageName)
        } catch {
            return "{\"error\":\(JSONOutput.quote("cannot encode as JSON: \(error)"))}"
        }
        for replacement in replacements {
            json = json.replacingOccurrences(of: replacement.marker, with: replacement.json)
        }
        return json
    }
}
