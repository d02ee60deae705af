public import LongrunProto
import SwiftProtobuf

/// An error that knows the `google.rpc.Status` an operation should fail with.
/// ``ProducerHandle/run(cancellationPollInterval:_:)`` completes the operation with this status
/// when the work throws such an error.
public protocol OperationStatusConvertible: Error {
    var operationStatus: Google_Rpc_Status { get }
}

extension LongrunClientError: OperationStatusConvertible {
    public var operationStatus: Google_Rpc_Status { status }
}

extension OperationError: OperationStatusConvertible {
    /// The failed operation's own status, or `UNKNOWN` with the description.
    public var operationStatus: Google_Rpc_Status {
        status ?? Google_Rpc_Status.with {
            $0.code = StatusCode.unknown.rawValue
            $0.message = description
        }
    }
}
