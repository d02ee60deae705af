import LongrunProto

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
    /// A usage error (ArgumentParser's EX_USAGE).
    package static let usage: Int32 = 64

    /// The exit code of `wait` (and of `complete`) for an operation's final state.
    package static func forOperation(_ operation: Google_Longrunning_Operation) -> Int32 {
        guard operation.done else { return timedOut }
        switch operation.result {
        case .response: return success
        case .error(let status) where status.code == StatusCode.cancelled.rawValue: return cancelled
        case .error, nil: return failure
        }
    }
}

/// The one line the CLI prints on stderr for an error (without the `longrun: ` prefix).
package enum ErrorLine {
    package static func message(for error: any Error, socketPath: String) -> String {
        if let error = error as? LongrunClientError {
            if error.code == .unavailable && looksLikeConnectionFailure(error.message) {
                return cannotConnect(socketPath)
            }
            return error.description
        }
        if error is SocketMissing { return cannotConnect(socketPath) }
        return String(describing: error)
    }

    package static func cannotConnect(_ socketPath: String) -> String {
        "cannot connect to \(socketPath): is longrund running? (start it with: swift run longrund)"
    }

    static func looksLikeConnectionFailure(_ message: String) -> Bool {
        let lowered = message.lowercased()
        return ["connect", "refused", "no such file", "unreachable", "transient failure"].contains { lowered.contains($0) }
    }
}

/// The daemon's socket does not exist.
package struct SocketMissing: Error, CustomStringConvertible {
    package var path: String
    package init(path: String) { self.path = path }
    package var description: String { ErrorLine.cannotConnect(path) }
}
