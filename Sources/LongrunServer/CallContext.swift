import GRPCCore
import GRPCProtobuf
import LongrunDomain

/// What a handler learns about its caller: from the request metadata over gRPC, from the
/// request headers over HTTP (``HTTPGateway``); the credentials always from the kernel.
///
/// Over gRPC, ``CallContextInterceptor`` builds it once per call and handlers read it as
/// ``current``.
struct CallContext: Sendable {
    /// Metadata key a client may set to label itself in the audit trail (`longrun-actor: deploy-bot`).
    static let actorKey = "longrun-actor"
    /// Metadata key carrying a free-text reason for CancelOperation.
    static let cancelReasonKey = "longrun-cancel-reason"
    static let maximumLabelLength = 128

    /// The connection's credentials from the kernel (`SO_PEERCRED`, see ``PeerIdentity``).
    var peer: PeerCredentials
    /// The actor recorded in events: the peer's uid and pid, and the label the client chose.
    var actor: Actor
    /// What the caller may do under the daemon's ``AccessPolicy``.
    var access: Access
    /// When the client's deadline (`grpc-timeout`) expires, if it sent one.
    var deadline: ContinuousClock.Instant?
    var cancelReason: String

    /// The context of the gRPC call being served, as ``CallContextInterceptor`` built it:
    /// UNAUTHENTICATED if the connection's credentials could not be read, INTERNAL if the service
    /// was registered without the interceptor.
    static var current: CallContext {
        get throws {
            guard let served else {
                throw RPCError(code: .internalError, message: "no call context: the service was registered without CallContextInterceptor")
            }
            return try served.get()
        }
    }

    /// Set by ``CallContextInterceptor`` around a call's handler and its response stream.
    @TaskLocal static var served: Result<CallContext, GoogleRPCStatus>?

    /// A gRPC call's context: the credentials ``PeerIdentity`` stamped on the call, and the
    /// `longrun-actor`, `longrun-cancel-reason` and `grpc-timeout` metadata.
    init(metadata: Metadata, policy: AccessPolicy) throws(GoogleRPCStatus) {
        try self.init(
            peer: metadata[stringValues: PeerIdentity.metadataKey].first(where: { _ in true }).flatMap(PeerIdentity.decode),
            actorLabel: metadata[stringValues: Self.actorKey].first(where: { _ in true }).map { String($0) },
            cancelReason: metadata[stringValues: Self.cancelReasonKey].first(where: { _ in true }).map { String($0) },
            timeout: metadata[stringValues: "grpc-timeout"].first(where: { _ in true }).flatMap(Self.parseTimeout),
            policy: policy
        )
    }

    /// The context of a call over any transport, from the connection's credentials as the kernel
    /// gave them and what the client said about itself. Throws UNAUTHENTICATED if the credentials
    /// are missing, which happens only if the kernel would not give them: the daemon acts for no
    /// one it cannot name.
    init(peer: PeerCredentials?, actorLabel: String?, cancelReason: String?, timeout: Duration?, policy: AccessPolicy) throws(GoogleRPCStatus) {
        guard let peer else {
            throw GoogleRPCStatus(.unauthenticated, "the daemon could not read this connection's credentials (SO_PEERCRED); connect over its Unix socket",
                                      reason: .noPeerCredentials)
        }
        self.peer = peer
        actor = Actor(uid: peer.uid, pid: peer.pid, label: actorLabel.map { String($0.prefix(Self.maximumLabelLength)) } ?? "")
        access = policy.access(for: peer)
        deadline = timeout.map { ContinuousClock.now + $0 }
        self.cancelReason = cancelReason ?? ""  // bounded by the lifecycle (Limits)
    }

    /// Parses a `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
    static func parseTimeout(_ text: String) -> Duration? {
        guard let unit = text.last, text.count >= 2, text.count <= 9, let amount = Int64(text.dropLast()), amount >= 0 else { return nil }
        switch unit {
        case "H": return .seconds(amount * 3600)
        case "M": return .seconds(amount * 60)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }
}

/// Runs `body` in a child task that is cancelled when gRPC cancels the RPC (deadline, client gone,
/// server shutdown): grpc-swift signals those through the RPC's cancellation handle, not by
/// cancelling the handler's task.
func cancellingOnRPCCancellation<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
    let task = Task { try await body() }
    return try await withRPCCancellationHandler {
        try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    } onCancelRPC: {
        task.cancel()
    }
}
