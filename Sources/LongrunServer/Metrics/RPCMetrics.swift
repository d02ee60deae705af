import Metrics
import GRPCCore

/// Counts every RPC by service, method and status code, and times it
/// (`longrun_rpc_requests_total`, `longrun_rpc_duration_seconds`). A server interceptor like
/// ``AccessLog``; a streaming call is counted when it ends, with the code it ended with.
struct RPCMetrics: ServerInterceptor {
    let metrics: LongrunMetrics

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let started = ContinuousClock.now
        let service = context.descriptor.service.fullyQualifiedService
        let method = context.descriptor.method
        let metrics = self.metrics
        let record = { @Sendable (code: RPCError.Code?) in
            metrics.recordRPC(service: service, method: method, code: AccessLog.canonicalName(code), duration: ContinuousClock.now - started)
        }
        return try await observingCallEnd(request, context, next: next, ended: record)
    }
}

extension LongrunMetrics {
    /// One finished RPC. The registry keeps one counter and one histogram per label set, so the
    /// swift-metrics handles made here are lookups, not new series, after the first call.
    func recordRPC(service: String, method: String, code: String, duration: Duration) {
        let labels = [("service", service), ("method", method), ("code", code)]
        Counter(label: MetricName.rpcRequests, dimensions: labels, factory: factory).increment()
        Timer(label: MetricName.rpcDuration, dimensions: labels, factory: factory).record(duration: duration)
    }
}
