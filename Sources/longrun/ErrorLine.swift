import LongrunCLIKit
import LongrunClient
import LongrunDefaults

/// The one line the CLI prints on stderr for an error (without the `longrun: ` prefix).
enum ErrorLine {
    /// - Parameter probe: how the socket is checked when the call could not connect (a plain
    ///   `connect(2)`, replaceable in tests), to say why: not running, or permission denied.
    static func message(
        for error: any Error, socketPath: String, probe: (String) -> SocketState = SocketProbe.check
    ) -> String {
        if let error = error as? LongrunClientError {
            guard error.code == .unavailable else { return error.description }
            if looksLikeConnectionFailure(error.message) {
                return cannotConnect(socketPath, state: probe(socketPath)) ?? error.description
            }
            // The connection broke during the call (e.g. "Stream unexpectedly closed."): say
            // whether the daemon is still there.
            guard let now = cannotConnect(socketPath, state: probe(socketPath)) else { return error.description }
            return "lost the connection to longrund (\(error.description)); now \(now)"
        }
        if error is SocketMissing { return cannotConnect(socketPath, state: probe(socketPath)) ?? String(describing: error) }
        return String(describing: error)
    }

    /// Why `socketPath` cannot be connected to, and what to do; nil if it accepts connections
    /// (then the RPC's own error says more).
    static func cannotConnect(_ socketPath: String, state: SocketState) -> String? {
        let start = socketPath == DefaultPaths.systemSocketPath
            ? "start it with `systemctl start longrund.socket`, or run `longrund` as root"
            : "start it with `longrund --socket \(socketPath)`"
        switch state {
        case .accepting:
            return nil
        case .missing:
            return "cannot connect to \(socketPath): no such socket; longrund is not running on it (\(start), or give --socket or $LONGRUN_SOCKET)"
        case .refused:
            return "cannot connect to \(socketPath): nothing listens on it (a stale socket); longrund is not running on it (\(start))"
        case .permissionDenied(let group?):
            return "cannot connect to \(socketPath): permission denied; your user is not in the socket's group \(group) (an administrator can run `usermod -aG \(group) $USER`; then log in again)"
        case .permissionDenied(nil):
            return "cannot connect to \(socketPath): permission denied on a directory on the way to the socket"
        case .failed(let reason):
            return "cannot connect to \(socketPath): \(reason)"
        }
    }

    static func looksLikeConnectionFailure(_ message: String) -> Bool {
        let lowered = message.lowercased()
        return ["connect", "refused", "no such file", "unreachable", "transient failure"].contains { lowered.contains($0) }
    }
}

extension ExitCodes {
    /// Whether `error` means the daemon could not be reached or stopped answering: its socket is
    /// missing, or a call failed with `UNAVAILABLE` (refused, reset, or the daemon shutting down).
    static func isUnreachable(_ error: any Error) -> Bool {
        if error is SocketMissing { return true }
        if let error = error as? LongrunClientError { return error.code == .unavailable }
        return false
    }
}

/// The daemon's socket does not exist.
struct SocketMissing: Error, CustomStringConvertible {
    var path: String
    init(path: String) { self.path = path }
    var description: String { "cannot connect to \(path): no such socket" }
}
