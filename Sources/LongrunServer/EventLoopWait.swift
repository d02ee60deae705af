import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunEngine
import LongrunWire
import NIOCore

/// One WaitOperation answered on its stream's event loop (``UnaryFastPath``): no task waits for
/// it. Each step reads the operation on the event loop
/// (``LongrunEngine/waitImmediately(_:deadline:access:after:wake:)``); if the wait is not over, the
/// engine's waiters keep a callback that brings the next step back to the event loop on the next
/// change of the operation, at the deadline or when the engine closes. What it costs while it
/// waits is a waiter entry, this object and the HTTP/2 stream.
///
/// Every member is used on `eventLoop` only; the one thing another thread does is the wake-up,
/// which only schedules the next step there.
final class EventLoopWait {
    private let engine: LongrunEngine
    private let name: OperationName
    private let deadline: ContinuousClock.Instant
    private let access: Access
    private let eventLoop: any EventLoop
    private let logger: Logger
    /// Called once with the answer (or, when the stream closed first, with CANCELLED); nil after.
    private var end: ((UnaryFastPath.Answer) -> Void)?
    /// The waiter the engine holds for this wait, while it waits.
    private var registration: WaitRegistration?

    init(engine: LongrunEngine, name: OperationName, deadline: ContinuousClock.Instant, access: Access, eventLoop: any EventLoop,
         logger: Logger, end: @escaping (UnaryFastPath.Answer) -> Void) {
        self.engine = engine
        self.name = name
        self.deadline = deadline
        self.access = access
        self.eventLoop = eventLoop
        self.logger = logger
        self.end = end
    }

    /// Reads the operation and answers if the wait is over, or waits for the next wake-up (`after`
    /// the one that brought this step here, if any).
    func step(after wakeUp: WakeUp? = nil) {
        eventLoop.preconditionInEventLoop()
        guard end != nil else { return }
        registration = nil
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let eventLoop = self.eventLoop
        do {
            let step = try engine.waitImmediately(name, deadline: deadline, access: access, after: wakeUp) { wakeUp in
                eventLoop.execute { bound.value.step(after: wakeUp) }
            }
            switch step {
            case .over(let state): finish(.message(state.operationBytes))
            case .waiting(let registration): self.registration = registration
            }
        } catch {
            // As grpc-swift's path ends it (``OperationsService``): a wait the closing engine ended
            // is UNAVAILABLE, so the client retries against the restarted daemon.
            let ending: any Error = error is CancellationError && engine.isClosed ? GoogleRPCStatus.shuttingDown : error
            finish(.status(UnaryFastPath.rpcError(ending: ending, logger: logger)))
        }
    }

    /// Ends the wait because its stream closed (the client cancelled, its deadline passed, or the
    /// connection went away): the engine's waiter is taken back and the call recorded as CANCELLED.
    func cancel() {
        eventLoop.preconditionInEventLoop()
        if let registration { engine.cancelWait(registration) }
        finish(.status(RPCError(code: .cancelled, message: "the client closed the stream before the operation was done")))
    }

    private func finish(_ answer: UnaryFastPath.Answer) {
        guard let end else { return }
        self.end = nil
        registration = nil
        end(answer)
    }
}
