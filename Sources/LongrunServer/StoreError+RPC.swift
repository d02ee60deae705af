public import GRPCCore
public import GRPCProtobuf
public import Logging
public import LongrunDomain
public import LongrunStore

/// A store error decides its own status from its ``StoreError/Kind``: the code, the `ErrorInfo`
/// reason and, for a damaged record, which record and what to run. Failures of the daemon rather
/// than of the request are logged where the call ends (``edgeLog``).
extension StoreError: GoogleRPCStatusConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch kind {
        case .resourceExhausted: .resourceExhausted
        case .closed, .unavailable: .unavailable
        case .dataLoss: .dataLoss
        case .foreignDirectory, .unsupportedFormat, .missingDatabase, .storage: .internalError
        }
    }

    public var rpcErrorMessage: String { message }

    public var reason: DomainError.Reason {
        switch kind {
        case .resourceExhausted: .storeFull
        case .closed: .shuttingDown
        case .unavailable: .storeUnavailable
        case .dataLoss: damage == nil ? .dataLoss : .recordDamaged
        case .foreignDirectory, .unsupportedFormat, .missingDatabase, .storage: .storageFailure
        }
    }

    public var googleRPCStatus: GoogleRPCStatus {
        GoogleRPCStatus(rpcErrorCode, message, reason: reason, metadata: damageMetadata)
    }

    /// For a damaged record (counted and logged once by the engine): which record, and what to run.
    var damageMetadata: [String: String] {
        guard kind == .dataLoss, let damage else { return [:] }
        var metadata = ["database": damage.database, "key": damage.printableKey]
        if let name = damage.operation { metadata["operation"] = name.description }
        if let sequence = damage.sequence { metadata["sequence"] = String(sequence) }
        metadata["repair"] = damage.database == "log"
            ? "longrun-replay verify --data-dir DIR (then restore from a backup)"
            : "longrun repair" + (damage.operation.map { " \($0)" } ?? "")
        return metadata
    }

    public var edgeLog: (level: Logger.Level, message: Logger.Message)? {
        switch kind {
        case .unavailable: (.warning, "store unavailable")
        case .dataLoss where damage == nil: (.critical, "data loss")
        case .foreignDirectory, .unsupportedFormat, .missingDatabase, .storage: (.error, "storage failure")
        case .dataLoss, .resourceExhausted, .closed: nil
        }
    }
}
