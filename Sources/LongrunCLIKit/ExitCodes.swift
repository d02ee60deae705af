package import LongrunProto

/// The `longrun` CLI's exit codes.
package enum ExitCodes {
    /// Success; for `wait`, the operation succeeded (has a response).
    package static let success: Int32 = 0
    /// An RPC or other error; for `wait`, the operation failed (an error other than CANCELLED).
    package static let failure: Int32 = 1
    /// `wait`: the operation was cancelled (error code CANCELLED).
    package static let cancelled: Int32 = 2
    /// `wait`: `--timeout` passed and the operation is not done.
    package static let timedOut: Int32 = 3
    /// `progress`: the update succeeded and cancellation of the operation was requested.
    package static let cancellationRequested: Int32 = 4
    /// `scrub`, `repair`: damage was found (or remains); the findings are printed.
    package static let damageFound: Int32 = 5
    /// `wait`: the daemon could not be reached, or stopped answering, before the operation was
    /// done (so its outcome is unknown: not to be confused with 1, the operation failed).
    package static let unreachable: Int32 = 6
    /// A usage error (ArgumentParser's EX_USAGE).
    package static let usage: Int32 = 64

    /// The exit code of `wait` (and of `complete`) for an operation's final state.
    package static func forOperation(_ operation: Google_Longrunning_Operation) -> Int32 {
        guard operation.done else { return timedOut }
        switch operation.result {
        case .response: return success
        case .error(let status) where status.code == CodeName.cancelled: return cancelled
        case .error, nil: return failure
        }
    }
}
