import Foundation
public import LongrunProto
public import SwiftProtobuf
import Testing

// Protobuf values the client's and the CLI kit's tests build their cases from.

public func structAny(_ fields: [String: Google_Protobuf_Value]) throws -> Google_Protobuf_Any {
    try Google_Protobuf_Any(message: Google_Protobuf_Struct(fields: fields))
}

public func operation(_ name: String, done: Bool = false, metadata: Google_Protobuf_Any? = nil,
                      response: Google_Protobuf_Any? = nil, error: Google_Rpc_Status? = nil) -> Google_Longrunning_Operation {
    Google_Longrunning_Operation.with {
        $0.name = name
        $0.done = done
        if let metadata { $0.metadata = metadata }
        if let response { $0.response = response }
        if let error { $0.error = error }
    }
}

/// A `google.rpc.Status` of `code` (its raw value).
public func rpcStatus(code: Int32, _ message: String, details: [Google_Protobuf_Any] = []) -> Google_Rpc_Status {
    Google_Rpc_Status.with {
        $0.code = code
        $0.message = message
        $0.details = details
    }
}

/// An `Any` of a type nobody registered.
public let unknownAny = Google_Protobuf_Any.with {
    $0.typeURL = "type.googleapis.com/acme.v1.BuildMetadata"
    $0.value = Data([0x08, 0x2a, 0xff])
}

public func jsonObject(_ line: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

/// 2026-01-01T00:00:00Z.
public let t0 = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 0)

public func at(_ seconds: Int64) -> Google_Protobuf_Timestamp {
    Google_Protobuf_Timestamp(seconds: t0.seconds + seconds, nanos: 0)
}
