import GRPCCore
import GRPCProtobuf
import Logging

/// The one place a gRPC call of Longrun's own services is set up and ended: it builds the call's
/// ``CallContext`` once (the peer's credentials, the actor, the access it has) and makes it
/// ``CallContext/current`` for the handler and its response stream; and a call that fails ends
/// with the status its error decides (``GoogleRPCStatusConvertible``), the daemon's own failures
/// logged, and an error that decides none logged with its cause and sent as UNKNOWN. Handlers
/// therefore neither build contexts nor map errors.
struct CallContextInterceptor: ServerInterceptor {
    let policy: AccessPolicy
    let logger: Logger

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        // A call without credentials fails when its handler asks for them (GetServerInfo never does).
        let call = Result { () throws(GoogleRPCStatus) in try CallContext(metadata: request.metadata, policy: policy) }
        let logger = self.logger
        var response: StreamingServerResponse<Output>
        do {
            response = try await CallContext.$served.withValue(call) { try await next(request, context) }
        } catch {
            throw Self.ending(error, logger: logger)
        }
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    return try await CallContext.$served.withValue(call) { try await producer(writer) }
                } catch {
                    throw Self.ending(error, logger: logger)
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }

    /// What a call that failed with `error` ends with: the error itself when it decides its status
    /// (logged if it is the daemon's failure rather than the caller's), else the status
    /// ``GoogleRPCStatus/init(_:logger:)`` gives it (CANCELLED, or UNKNOWN logged with its cause).
    static func ending(_ error: any Error, logger: Logger) -> any Error {
        switch error {
        case let error as any GoogleRPCStatusConvertible:
            if let log = error.edgeLog { logger.log(level: log.level, log.message, metadata: ["error": "\(error)"]) }
            return error
        case is any RPCErrorConvertible:
            return error
        default:
            return GoogleRPCStatus(error, logger: logger)
        }
    }
}
