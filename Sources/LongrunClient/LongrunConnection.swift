import GRPCCore
public import GRPCNIOTransportHTTP2
import LongrunDefaults

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The gRPC transport every Longrun client uses: HTTP/2 in plaintext over the daemon's Unix socket.
public typealias LongrunTransport = HTTP2ClientTransport.Posix

/// Connects to the daemon's socket, runs `body` with a client, and closes the connection after.
///
/// - Parameters:
///   - socketPath: nil uses ``DefaultPaths/currentClientSocketPath`` (`LONGRUN_SOCKET`, else the
///     user's default socket, else the system daemon's if only that exists).
///   - actor: sent as `longrun-actor` on every call (the `Actor.label` of the events caused).
public func withLongrunClient<Result: Sendable>(
    socketPath: String? = nil,
    actor: String? = nil,
    _ body: (LongrunClient) async throws -> Result
) async throws -> Result {
    let path = socketPath ?? DefaultPaths.currentClientSocketPath
    let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: path), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport) { grpc in
        try await body(LongrunClient(wrapping: grpc, actor: actor))
    }
}

/// Whether something exists at `path` (a quick check before connecting, for a clear error).
package func socketExists(at path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
