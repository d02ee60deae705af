public import GRPCCore
public import GRPCProtobuf
public import LongrunDomain

/// A domain error decides its own status: the code from its ``DomainError/Kind``, its message, and
/// an `ErrorInfo` with its reason and metadata in the `grpc-status-details-bin` trailer.
extension DomainError: GoogleRPCStatusConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch kind {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .aborted: .aborted
        case .outOfRange: .outOfRange
        case .resourceExhausted: .resourceExhausted
        case .permissionDenied: .permissionDenied
        }
    }

    public var rpcErrorMessage: String { message }

    public var googleRPCStatus: GoogleRPCStatus {
        GoogleRPCStatus(rpcErrorCode, message, reason: reason, metadata: metadata)
    }
}
