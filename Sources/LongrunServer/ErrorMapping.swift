import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunStore
import LongrunProto

/// The one table from the engine's errors to `google.rpc.Code`, with an `ErrorInfo` detail
/// (UPPER_SNAKE reason, domain `longrun.dev`). An error it does not know becomes UNKNOWN and is
/// logged with its cause.
enum ErrorMapping {
    static let domain = DomainError.errorDomain

    /// What open waits and watches receive when the daemon stops: retry against the restarted one.
    static let shuttingDown = status(.unavailable, "the server is shutting down; retry once it is back", reason: "SHUTTING_DOWN")

    static func status(for error: any Error, logger: Logger) -> GoogleRPCStatus {
        switch error {
        case let error as GoogleRPCStatus:
            return error
        case let error as RPCError:
            return GoogleRPCStatus(code: error.code, message: error.message, details: [])
        case let error as DomainError:
            let code: RPCError.Code = switch error.kind {
            case .invalidArgument: .invalidArgument
            case .notFound: .notFound
            case .alreadyExists: .alreadyExists
            case .failedPrecondition: .failedPrecondition
            case .aborted: .aborted
            case .outOfRange: .outOfRange
            case .resourceExhausted: .resourceExhausted
            case .permissionDenied: .permissionDenied
            }
            return status(code, error.message, reason: error.reason, metadata: error.metadata)
        case let error as StoreError:
            switch error.kind {
            case .resourceExhausted:
                return status(.resourceExhausted, error.message, reason: "STORE_FULL")
            case .closed:
                return status(.unavailable, error.message, reason: "SHUTTING_DOWN")
            case .unavailable:
                logger.warning("store unavailable", metadata: ["error": "\(error)"])
                return status(.unavailable, error.message, reason: "STORE_UNAVAILABLE")
            case .dataLoss:
                guard let damage = error.damage else {
                    logger.critical("data loss", metadata: ["error": "\(error)"])
                    return status(.dataLoss, error.message, reason: "DATA_LOSS")
                }
                // Counted and logged once by the engine; the caller learns which record and what to run.
                var metadata = ["database": damage.database, "key": damage.printableKey]
                if let name = damage.operation { metadata["operation"] = name.description }
                if let sequence = damage.sequence { metadata["sequence"] = String(sequence) }
                metadata["repair"] = damage.database == "log"
                    ? "longrun-replay verify --data-dir DIR (then restore from a backup)"
                    : "longrun repair" + (damage.operation.map { " \($0)" } ?? "")
                return status(.dataLoss, error.message, reason: "RECORD_DAMAGED", metadata: metadata)
            case .foreignDirectory, .unsupportedFormat, .storage:
                logger.error("storage failure", metadata: ["error": "\(error)"])
                return status(.internalError, error.message, reason: "STORAGE_FAILURE")
            }
        case is CancellationError:
            return status(.cancelled, "the request was cancelled", reason: "CANCELLED")
        default:
            logger.error("unmapped error", metadata: ["error": "\(String(reflecting: error))"])
            return status(.unknown, "internal error: \(error)", reason: "UNKNOWN")
        }
    }

    /// The same status as a `google.rpc.Status` message, details included, for errors that travel
    /// inside a response (StreamTransitions) rather than as the call's status.
    static func protoStatus(for error: any Error, logger: Logger) -> Google_Rpc_Status {
        let status = status(for: error, logger: logger)
        if let bytes: [UInt8] = try? status.serializedBytes(), let proto = try? Google_Rpc_Status(serializedBytes: bytes) {
            return proto
        }
        var proto = Google_Rpc_Status()
        proto.code = Int32(status.code.rawValue)
        proto.message = status.message
        return proto
    }

    static func status(_ code: RPCError.Code, _ message: String, reason: String, metadata: [String: String] = [:]) -> GoogleRPCStatus {
        GoogleRPCStatus(code: code, message: message, details: [.errorInfo(reason: reason, domain: domain, metadata: metadata)])
    }
}

/// Runs a handler body, rethrowing any failure as a `GoogleRPCStatus` through ``ErrorMapping``.
func mappingErrors<R>(_ logger: Logger, _ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch {
        throw ErrorMapping.status(for: error, logger: logger)
    }
}
