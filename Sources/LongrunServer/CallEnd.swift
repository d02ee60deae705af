import GRPCCore

/// Runs a call through `next` and calls `ended` once with the code it ended with (nil: OK): when
/// the handler throws, when it refuses the call, or, for an accepted call, when its response
/// stream (one message for a unary call) is written or fails. The interceptors that observe calls
/// (``AccessLog``, ``RPCMetrics``) share it, so a streaming call is seen at its real end.
func observingCallEnd<Input: Sendable, Output: Sendable>(
    _ request: StreamingServerRequest<Input>,
    _ context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>,
    ended: @escaping @Sendable (RPCError.Code?) -> Void
) async throws -> StreamingServerResponse<Output> {
    var response: StreamingServerResponse<Output>
    do {
        response = try await next(request, context)
    } catch {
        ended(AccessLog.code(of: error))
        throw error
    }
    switch response.accepted {
    case .success(var contents):
        let producer = contents.producer
        contents.producer = { writer in
            do {
                let trailers = try await producer(writer)
                ended(nil)
                return trailers
            } catch {
                ended(AccessLog.code(of: error))
                throw error
            }
        }
        response.accepted = .success(contents)
    case .failure(let error):
        ended(error.code)
    }
    return response
}
