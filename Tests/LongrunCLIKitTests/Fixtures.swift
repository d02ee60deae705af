import LongrunDomain
import LongrunProto
import SwiftProtobuf
import LongrunProtoTestSupport

/// The shared protobuf fixtures (LongrunProtoTestSupport), with this target's status codes.
func status(_ code: LongrunDomain.StatusCode, _ message: String, details: [Google_Protobuf_Any] = []) -> Google_Rpc_Status {
    rpcStatus(code: code.rawValue, message, details: details)
}
