import GRPCCore
import GRPCProtobuf
public import LongrunProto
public import SwiftProtobuf
import Synchronization

extension ProducerHandle {
    /// Runs `work` in a child task and completes the operation with its outcome.
    ///
    /// While `work` runs, a cancel request cancels its Task: seen by any ``progress(metadata:expectedVersion:)``
    /// or ``details()`` call, or by one `GetOperationDetails` (``checkCancellation()``) every
    /// `cancellationPollInterval` (nil: no polling). The same happens if the operation is found
    /// already done. Polling stops (without stopping the work) if the server answers in a way
    /// polling again will not change: `NOT_FOUND` (the operation was deleted: the work's own calls,
    /// and the completion, will fail with it), `UNIMPLEMENTED`, `INVALID_ARGUMENT`,
    /// `PERMISSION_DENIED` or `UNAUTHENTICATED`; other failures are retried at the next interval.
    ///
    /// The operation is then completed, even if the calling Task is cancelled:
    /// - `work` returns: with its response (a cooperative producer may finish despite a cancel request);
    /// - `work` throws `CancellationError` (or a `CANCELLED` RPC error) after a cancel request, or
    ///   because the calling Task was cancelled: with `CANCELLED`;
    /// - `work` throws an ``OperationStatusConvertible`` error (e.g. ``LongrunClientError``) or an
    ///   `RPCError`: with that status; any other error: with `UNKNOWN` and its description.
    ///
    /// Returns the done operation. If the operation was already done (completed by the engine after
    /// an `IMMEDIATE` cancel or the grace period), returns it as it is. Throws the RPC error if the
    /// completion fails otherwise (e.g. `NOT_FOUND` after a deletion).
    public func run<Response: SwiftProtobuf.Message>(
        cancellationPollInterval: Duration? = .seconds(1),
        _ work: @escaping @Sendable (ProducerHandle) async throws -> Response
    ) async throws -> Google_Longrunning_Operation {
        let (signal, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.stopSignal = continuation
            if state.cancellationRequested || state.doneElsewhere { continuation.yield() }
        }
        defer {
            state.withLock { $0.stopSignal = nil }
            continuation.finish()
        }

        let outcome: Result<Response, any Error> = await withTaskGroup(of: RunChild<Response>.self) { group in
            group.addTask {
                do {
                    return .work(.success(try await Self.$runningWork.withValue(ObjectIdentifier(self)) { try await work(self) }))
                } catch {
                    return .work(.failure(error))
                }
            }
            group.addTask {
                await self.waitForStop(signal: signal, pollInterval: cancellationPollInterval)
                return .stop
            }
            var outcome: Result<Response, any Error>?
            while let child = await group.next() {
                switch child {
                case .work(let result):
                    outcome = result
                    group.cancelAll()
                case .stop:
                    if outcome == nil { group.cancelAll() }
                }
            }
            return outcome ?? .failure(CancellationError())
        }

        let callerCancelled = Task.isCancelled
        let stopRequested = state.withLock { $0.cancellationRequested || $0.doneElsewhere }
        let completion: Completion
        switch outcome {
        case .success(let response):
            do {
                completion = .response(try pack(response))
            } catch {
                completion = .error(Self.status(code: .internal, message: "cannot serialize the response: \(error)"))
            }
        case .failure(let error):
            completion = .error(Self.completionStatus(for: error, cancellationRequested: stopRequested, callerCancelled: callerCancelled))
        }
        // A fresh Task: the completion must reach the server even if the caller was cancelled.
        return try await Task { try await self.completeOrRead(completion) }.value
    }

    enum RunChild<Response: Sendable>: Sendable {
        case work(Result<Response, any Error>)
        case stop
    }

    enum Completion: Sendable {
        case response(Google_Protobuf_Any)
        case error(Google_Rpc_Status)
    }

    /// Returns when a stop is signalled (by ``progress(metadata:expectedVersion:)``, ``details()``
    /// or the poll, which records what it finds through ``details()``) or the Task is cancelled.
    private func waitForStop(signal: AsyncStream<Void>, pollInterval: Duration?) async {
        await withTaskGroup(of: Void.self) { group in
            if let pollInterval {
                group.addTask { await self.pollForStop(every: pollInterval) }
            }
            // Ends at the first signal, or at once when the Task is cancelled; a poll that gives
            // up does not end the wait.
            for await _ in signal { break }
            group.cancelAll()
        }
    }

    /// Calls ``checkCancellation()`` every `interval` until it finds a stop, the Task is
    /// cancelled, or the server answers with a code that polling again will not change.
    private func pollForStop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                if try await checkCancellation() { return }
            } catch let error as LongrunClientError where Self.endsPolling.contains(error.code) {
                return
            } catch {
                // Cancelled (the loop ends), or a transient failure: the work's own calls will
                // report a real problem; poll on.
            }
        }
    }

    /// Answers to `GetOperationDetails` that polling again will not change.
    static let endsPolling: Set<StatusCode> = [.notFound, .unimplemented, .invalidArgument, .permissionDenied, .unauthenticated]

    private func completeOrRead(_ completion: Completion) async throws -> Google_Longrunning_Operation {
        do {
            switch completion {
            case .response(let response): return try await client.completeOperation(name, response: response)
            case .error(let status): return try await client.completeOperation(name, error: status)
            }
        } catch let error as LongrunClientError where error.code == .failedPrecondition {
            // Already done (by the engine, after a cancel request): report how it ended.
            return try await client.getOperation(name)
        }
    }

    static func status(code: StatusCode, message: String, details: [Google_Protobuf_Any] = []) -> Google_Rpc_Status {
        Google_Rpc_Status.with {
            $0.code = code.rawValue
            $0.message = message
            $0.details = details
        }
    }

    /// Whether `error` is how a cancelled Task ends.
    static func isCancellation(_ error: any Error) -> Bool {
        switch error {
        case is CancellationError: true
        case let error as LongrunClientError: error.code == .cancelled
        case let error as RPCError: error.code == .cancelled
        default: false
        }
    }

    /// The status to fail an operation with when its work threw `error`.
    static func completionStatus(for error: any Error, cancellationRequested: Bool, callerCancelled: Bool) -> Google_Rpc_Status {
        if isCancellation(error) {
            if cancellationRequested {
                return status(code: .cancelled, message: "cancelled at the consumer's request")
            }
            if callerCancelled {
                return status(code: .cancelled, message: "the producer was cancelled")
            }
        }
        var result: Google_Rpc_Status
        switch error {
        case let error as any OperationStatusConvertible:
            result = error.operationStatus
        case let error as RPCError:
            result = LongrunClientError(error).status
        case let error as GoogleRPCStatus:
            result = (try? Google_Rpc_Status(serializedBytes: error.serializedBytes() as [UInt8]))
                ?? status(code: StatusCode(error.code), message: error.message)
        default:
            result = status(code: .unknown, message: String(describing: error))
        }
        if result.code == StatusCode.ok.rawValue { result.code = StatusCode.unknown.rawValue }
        if result.message.isEmpty { result.message = String(describing: error) }
        return result
    }
}
