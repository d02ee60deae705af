import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunProto

/// `grpc.health.v1.Health`, what `grpc_health_probe` and orchestrators call: the status of the whole
/// server (`""`) or of one service, from a ``HealthStatusSource``.
struct HealthService: Grpc_Health_V1_Health.ServiceProtocol {
    let source: HealthStatusSource
    let logger: Logger
    /// How often a Watch looks at the polled conditions (phase changes arrive at once).
    let pollInterval: Duration

    func check(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws
        -> ServerResponse<Grpc_Health_V1_HealthCheckResponse>
    {
        let service = request.message.service
        guard let status = source.status(of: service) else {
            throw GoogleRPCStatus(.notFound, "no service named '\(service)' is served here; the empty name is the whole server",
                                      reason: .unknownService, metadata: ["service": String(service.prefix(256))])
        }
        return ServerResponse(message: Self.response(status))
    }

    func list(request: ServerRequest<Grpc_Health_V1_HealthListRequest>, context: ServerContext) async throws
        -> ServerResponse<Grpc_Health_V1_HealthListResponse>
    {
        var response = Grpc_Health_V1_HealthListResponse()
        for service in [""] + source.services {
            if let status = source.status(of: service) { response.statuses[service] = Self.response(status) }
        }
        return ServerResponse(message: response)
    }

    /// Sends the current status, then each change. An unknown name gets SERVICE_UNKNOWN and the call
    /// stays open, as the protocol asks (the served services never change, so nothing follows).
    /// When the server drains the stream sends NOT_SERVING and ends with UNAVAILABLE, so that
    /// graceful shutdown is not held open by watchers; clients retry with backoff.
    func watch(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse>
    {
        let service = request.message.service
        let source = self.source
        let pollInterval = self.pollInterval
        return StreamingServerResponse { writer in
            do {
                try await cancellingOnRPCCancellation {
                    try await source.withChanges(polling: pollInterval) { changes in
                        var last: Grpc_Health_V1_HealthCheckResponse?
                        for await _ in changes {
                            let response = Self.response(source.status(of: service))
                            if response != last {
                                try await writer.write(response)
                                last = response
                            }
                            if source.phase == .draining { return }
                        }
                        // The changes end only when the task is cancelled.
                        throw CancellationError()
                    }
                }
            } catch is CancellationError {
                // Cancelled while the daemon drains (before this watch saw it): say what the drain
                // made the status, if the stream still takes it, and tell the client to come back, as
                // a watch that saw the drain does: open watches hear NOT_SERVING, then end.
                if source.phase == .draining {
                    try? await writer.write(Self.response(source.status(of: service)))
                    throw GoogleRPCStatus.shuttingDown
                }
                // The client's deadline passed (or it went away, and nobody is listening): end as
                // the deadline does. Ended with OK, the call raced the client's own timer, which
                // then saw a stream that ended instead of DEADLINE_EXCEEDED.
                throw RPCError(code: .deadlineExceeded, message: "the watch's deadline passed")
            }
            throw GoogleRPCStatus.shuttingDown
        }
    }

    /// The answer for a service's status; SERVICE_UNKNOWN for a name that is not served.
    static func response(_ status: ServingStatus?) -> Grpc_Health_V1_HealthCheckResponse {
        status.map(response) ?? response(.serviceUnknown)
    }

    static func response(_ status: ServingStatus) -> Grpc_Health_V1_HealthCheckResponse {
        switch status {
        case .serving: response(Grpc_Health_V1_HealthCheckResponse.ServingStatus.serving)
        case .notServing: response(Grpc_Health_V1_HealthCheckResponse.ServingStatus.notServing)
        }
    }

    static func response(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> Grpc_Health_V1_HealthCheckResponse {
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        return response
    }
}
