import LongrunClient
import LongrunProto
import SwiftProtobuf
import LongrunProtoTestSupport

/// The shared protobuf fixtures (LongrunProtoTestSupport), with this target's status codes.
func status(_ code: StatusCode, _ message: String, details: [Google_Protobuf_Any] = []) -> Google_Rpc_Status {
    rpcStatus(code: code.rawValue, message, details: details)
}

/// The code of the ``LongrunClientError`` `body` throws (nil if it throws nothing or another error).
func errorCode(_ body: () async throws -> Void) async -> StatusCode? {
    do {
        try await body()
        return nil
    } catch let error as LongrunClientError {
        return error.code
    } catch {
        return nil
    }
}
