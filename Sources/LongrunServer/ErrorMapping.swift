public import GRPCCore
public import GRPCProtobuf
public import Logging
import LongrunDomain
import LongrunProto
import SwiftProtobuf

/// An error that decides its own `google.rpc.Status`: its code, its message, and an `ErrorInfo`
/// (UPPER_SNAKE reason, domain `longrun.dev`), which grpc-swift sends in the
/// `grpc-status-details-bin` trailer when a handler throws it. ``DomainError`` and ``StoreError``
/// conform (DomainError+RPC.swift, StoreError+RPC.swift): the table from error to code lives on
/// the errors, and handlers contain no `switch` over them.
public protocol GoogleRPCStatusConvertible: RPCErrorConvertible, Error {
    var googleRPCStatus: GoogleRPCStatus { get }
    /// How the edge logs it when a call ends with it; nil for the caller's own mistakes.
    var edgeLog: (level: Logger.Level, message: Logger.Message)? { get }
}

extension GoogleRPCStatusConvertible {
    public var rpcErrorMetadata: Metadata { googleRPCStatus.rpcErrorMetadata }
    public var edgeLog: (level: Logger.Level, message: Logger.Message)? { nil }
}

extension GoogleRPCStatus: GoogleRPCStatusConvertible {
    public var googleRPCStatus: GoogleRPCStatus { self }
}

extension GoogleRPCStatus {
    /// A status with Longrun's `ErrorInfo`.
    init(_ code: RPCError.Code, _ message: String, reason: DomainError.Reason, metadata: [String: String] = [:]) {
        self.init(code: code, message: message, details: [.errorInfo(reason: reason.rawValue, domain: DomainError.errorDomain, metadata: metadata)])
    }

    /// What open waits and watches receive when the daemon stops: retry against the restarted one.
    static let shuttingDown = GoogleRPCStatus(.unavailable, "the server is shutting down; retry once it is back", reason: .shuttingDown)

    /// The status a client receives for any error, for the places that send it themselves rather
    /// than throw it: an error inside a response (TransitionResponse, bulk refusals) and the HTTP
    /// gateway. An error that does not decide its own status is the daemon's bug: UNKNOWN, logged
    /// with its cause.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as any GoogleRPCStatusConvertible:
            if let log = error.edgeLog { logger.log(level: log.level, log.message, metadata: ["error": "\(error)"]) }
            self = error.googleRPCStatus
        case let error as RPCError:
            self.init(code: error.code, message: error.message, details: [])
        case is CancellationError:
            self.init(.cancelled, "the request was cancelled", reason: .cancelled)
        default:
            logger.error("unmapped error", metadata: ["error": "\(String(reflecting: error))"])
            self.init(.unknown, "internal error: \(error)", reason: .unknown)
        }
    }

    /// The same status as a `google.rpc.Status` message, details included.
    var proto: Google_Rpc_Status {
        if let bytes: [UInt8] = try? serializedBytes(), let proto = try? Google_Rpc_Status(serializedBytes: bytes) {
            return proto
        }
        var proto = Google_Rpc_Status()
        proto.code = Int32(code.rawValue)
        proto.message = message
        return proto
    }
}
