public import LongrunProto
import SwiftProtobuf

/// Registers message types with SwiftProtobuf's `Any` registry (``LongrunProto/LongrunTypes``), so
/// `Any`s holding them print as JSON; register your own metadata and response types with it.
public typealias LongrunTypes = LongrunProto.LongrunTypes

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
