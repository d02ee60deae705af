import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire
import NIOCore
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf
import Synchronization

/// The unary calls every client makes most, answered in the HTTP/2 stream's pipeline instead of
/// through grpc-swift's task per call: GetOperation on the connection's event loop, and
/// ListOperations when its page reads only the records it returns, at most 100 (otherwise in a task
/// of its own: ``LongrunEngine/listImmediately(_:access:)``); CancelOperation,
/// DeleteOperation and the producer's CreateOperation, UpdateOperation and CompleteOperation
/// queued to the writer from the event loop and answered from the writer's commit; WaitOperation
/// registered with the engine's waiters from the event loop and answered there when it is over
/// (``EventLoopWait``), holding no task while it waits.
///
/// Every call grpc-swift serves costs a task, an async wrapper around the stream and several
/// hand-offs between the event loop and the cooperative pool; for a point read from LMDB (a few
/// microseconds) or a command the writer decides in a few more, that is nearly all of the call's
/// server CPU (issue 12: ~175 µs per call with a no-op handler), and for a wait most of its memory.
/// GetOperation, ListOperations and WaitOperation are answered here only when the store can read without
/// suspending (``LongrunEngine/readsImmediately``: LMDB); the writes on every store, as the
/// writer answers them whatever the backend (from its thread, or from this event loop for a lone
/// write it commits here).
///
/// Only the plain form of a call is taken: `POST` of `application/grpc[+proto]`, no `grpc-encoding`
/// other than `identity`. Anything else (and every other method) goes to grpc-swift's router
/// (``CallQueue``), which refuses what grpc-swift's own transport refused. The answer is what the
/// router's path answers: the same rules (``OperationsMethods``, ``ProducersService``'s request validation),
/// the same statuses with their `ErrorInfo` in `grpc-status-details-bin`, the same access-log line
/// and metrics; tests compare the two paths answer by answer (UnaryFastPathTests).
struct UnaryFastPath: Sendable {
    /// The methods this path answers.
    enum Method: Sendable, CaseIterable {
        case getOperation, listOperations, waitOperation, cancelOperation, deleteOperation, createOperation, updateOperation, completeOperation

        var descriptor: MethodDescriptor {
            switch self {
            case .getOperation: Google_Longrunning_Operations.Method.GetOperation.descriptor
            case .listOperations: Google_Longrunning_Operations.Method.ListOperations.descriptor
            case .waitOperation: Google_Longrunning_Operations.Method.WaitOperation.descriptor
            case .cancelOperation: Google_Longrunning_Operations.Method.CancelOperation.descriptor
            case .deleteOperation: Google_Longrunning_Operations.Method.DeleteOperation.descriptor
            case .createOperation: Longrun_V1_Producers.Method.CreateOperation.descriptor
            case .updateOperation: Longrun_V1_Producers.Method.UpdateOperation.descriptor
            case .completeOperation: Longrun_V1_Producers.Method.CompleteOperation.descriptor
            }
        }

        /// A write: committed by the writer, or by its caller's event loop when it is alone.
        var isWrite: Bool {
            switch self {
            case .getOperation, .listOperations, .waitOperation: false
            case .cancelOperation, .deleteOperation, .createOperation, .updateOperation, .completeOperation: true
            }
        }

        /// Each method by its HTTP/2 `:path`.
        static let byPath: [String: Method] = Dictionary(uniqueKeysWithValues: allCases.map { ("/" + $0.descriptor.fullyQualifiedMethod, $0) })
    }

    let engine: LongrunEngine
    let policy: AccessPolicy
    let maximumRequestBytes: Int
    /// Longest a WaitOperation holds the call (``LongrunServer/Configuration/maximumWait``).
    let maximumWait: Duration
    /// The per-uid cap on open waits, shared with grpc-swift's path.
    let quotas: PeerQuotas
    let logger: Logger
    let metrics: LongrunMetrics?
    /// The access log's level when its lines are printed (``LongrunServer/Configuration/accessLogLevel``).
    let accessLogLevel: Logger.Level?
    /// Calls answered here, since the server started.
    let answered: Counter

    final class Counter: Sendable {
        private let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .relaxed) }
        func increment() { count.add(1, ordering: .relaxed) }
    }

    /// The method of a stream opened with `headers`, if it is one this path answers.
    func method(of headers: HPACKHeaders) -> Method? {
        guard let path = headers.first(name: ":path"), let method = Method.byPath[path], headers.first(name: ":method") == "POST",
              GRPCFraming.isGRPC(contentType: headers.first(name: "content-type"))
        else { return nil }
        if method == .getOperation || method == .listOperations || method == .waitOperation, !engine.readsImmediately { return nil }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" { return nil }
        return method
    }

    /// Answers one call of `method` whose request body (gRPC length-prefixed) is `body`. Call on
    /// the stream's event loop. `reply` is called once: before this returns for GetOperation, for
    /// a ListOperations the engine answers at once, and for a request refused before it is queued
    /// or registered; for another ListOperations from its task; for a write once the command's
    /// batch is committed or rejected, on the writer's thread (before this returns when the write
    /// is alone and committed here, ``LongrunEngine/enqueue(_:actor:access:leading:completion:)``); for a wait on `eventLoop` when the wait
    /// is over. A wait is returned while it waits: ``EventLoopWait/cancel()`` ends it if the
    /// stream closes first.
    @discardableResult
    func answer(_ method: Method, body: ByteBuffer, headers: HPACKHeaders, peer: PeerCredentials?, eventLoop: any EventLoop,
                reply: @escaping @Sendable (Answer) -> Void) -> EventLoopWait? {
        let started = ContinuousClock.now
        let finish = { @Sendable (answer: Answer, subject: String?) in
            answered.increment()
            observe(answer, method: method, subject: subject, peer: peer, duration: ContinuousClock.now - started)
            reply(answer)
        }
        var subject: String?
        do {
            let timeout = method == .waitOperation ? headers.first(name: "grpc-timeout").flatMap(CallContext.parseTimeout) : nil
            let call = try CallContext(peer: peer, actorLabel: headers.first(name: CallContext.actorKey),
                                       cancelReason: headers.first(name: CallContext.cancelReasonKey), timeout: timeout, policy: policy)
            switch method {
            case .getOperation:
                let request: Google_Longrunning_GetOperationRequest = try Self.unaryMessage(in: body)
                subject = request.name
                finish(.message(try OperationsMethods(engine: engine).getImmediately(request, call: call)), subject)
            case .listOperations:
                let request: Google_Longrunning_ListOperationsRequest = try Self.unaryMessage(in: body)
                subject = request.name
                let methods = OperationsMethods(engine: engine)
                if let response = try methods.listImmediately(request, call: call) {
                    finish(.message(response), subject)
                } else {
                    // A page a filter or an owner check may scan many records for (up to the scan
                    // budget), or a large one: not on the event loop, which other streams share.
                    let (named, logger) = (request.name, logger)
                    Task {
                        do {
                            finish(.message(try await methods.listBytes(request, call: call)), named)
                        } catch {
                            finish(.status(Self.rpcError(ending: error, logger: logger)), named)
                        }
                    }
                }
            case .waitOperation:
                let request: Google_Longrunning_WaitOperationRequest = try Self.unaryMessage(in: body)
                subject = request.name
                let name = try OperationName(parsing: request.name)
                let timeout = try OperationsService.waitTimeout(request, deadline: call.deadline, maximumWait: maximumWait)
                try quotas.acquire(.wait, for: call.peer)
                let (quotas, peer, named) = (quotas, call.peer, request.name)
                let wait = EventLoopWait(engine: engine, name: name, deadline: .now + timeout, access: call.access, eventLoop: eventLoop,
                                         logger: logger) { answer in
                    quotas.release(.wait, for: peer)
                    finish(answer, named)
                }
                wait.step()
                return wait
            case .cancelOperation:
                try queue(Google_Longrunning_CancelOperationRequest.self, body: body, uid: call.peer.uid, subject: &subject, finish: finish) { request, done in
                    engine.enqueue(try OperationsMethods.command(request, call: call), actor: call.actor, access: call.access, leading: true, completion: done)
                } response: { _ in try Google_Protobuf_Empty().serializedBytes() }
            case .deleteOperation:
                try queue(Google_Longrunning_DeleteOperationRequest.self, body: body, uid: call.peer.uid, subject: &subject, finish: finish) { request, done in
                    engine.enqueue(try OperationsMethods.command(request), actor: call.actor, access: call.access, leading: true, completion: done)
                } response: { _ in try Google_Protobuf_Empty().serializedBytes() }
            case .createOperation:
                try queue(Longrun_V1_CreateOperationRequest.self, body: body, uid: call.peer.uid, subject: &subject, finish: finish) { request, done in
                    engine.enqueue(try ProducersService.create(request), actor: call.actor, access: call.access, leading: true, completion: done)
                } response: { $0.operationBytes }
            case .updateOperation:
                try queue(Longrun_V1_UpdateOperationRequest.self, body: body, uid: call.peer.uid, subject: &subject, finish: finish) { request, done in
                    engine.enqueue(try ProducersService.progress(request), actor: call.actor, access: call.access, leading: true, completion: done)
                } response: { $0.updateOperationResponseBytes }
            case .completeOperation:
                try queue(Longrun_V1_CompleteOperationRequest.self, body: body, uid: call.peer.uid, subject: &subject, finish: finish) { request, done in
                    engine.enqueue(try ProducersService.complete(request), actor: call.actor, access: call.access, leading: true, completion: done)
                } response: { $0.operationBytes }
            }
        } catch {
            finish(.status(Self.rpcError(ending: error, logger: logger)), subject)
        }
        return nil
    }

    /// A write: decodes its request, queues what it asks for (`enqueue`, which hands the writer the
    /// completion), and answers with `response` of the state its commit left, or with the status
    /// its error ends the call with. The request's bytes are charged to `uid` until then
    /// (``PeerQuotas/chargeQueued(_:uid:)``): RESOURCE_EXHAUSTED, queueing nothing, past its limit.
    private func queue<Request: SwiftProtobuf.Message & AccessLogSubject>(
        _: Request.Type, body: ByteBuffer, uid: UInt32, subject: inout String?, finish: @escaping @Sendable (Answer, String?) -> Void,
        enqueue: (Request, @escaping @Sendable (Result<OperationState, any Error>) -> Void) throws -> Void,
        response: @escaping @Sendable (OperationState) throws -> [UInt8]
    ) throws {
        let request: Request = try Self.unaryMessage(in: body)
        let named = request.accessLogSubject
        subject = named
        let logger = self.logger
        try quotas.queueing(body.readableBytes, uid: uid) { release in
            try enqueue(request) { result in
                release()
                let answer: Answer
                do {
                    answer = .message(try response(result.get()))
                } catch {
                    answer = .status(Self.rpcError(ending: error, logger: logger))
                }
                finish(answer, named)
            }
        }
    }

    enum Answer: Sendable {
        case message([UInt8])
        case status(RPCError)
    }

    /// The status a call that failed with `error` ends with, as ``CallContextInterceptor`` and
    /// grpc-swift decide it on the asynchronous path.
    static func rpcError(ending error: any Error, logger: Logger) -> RPCError {
        switch CallContextInterceptor.ending(error, logger: logger) {
        case let error as RPCError: error
        case let error as any RPCErrorConvertible: RPCError(error)
        case let error: RPCError(code: .unknown, message: "\(error)")
        }
    }

    /// Reads the single message of a unary request: a 5-byte prefix (compressed flag, length) and
    /// the bytes, which must be all there is.
    static func unaryMessage<Message: SwiftProtobuf.Message>(in body: ByteBuffer) throws -> Message {
        var body = body
        guard let compressed = body.readInteger(as: UInt8.self), let length = body.readInteger(as: UInt32.self) else {
            throw RPCError(code: .internalError, message: "a unary request needs exactly one message; none was sent")
        }
        guard compressed == 0 else {
            throw RPCError(code: .internalError, message: "the request message is compressed but no grpc-encoding was sent")
        }
        guard Int(length) == body.readableBytes else {
            throw RPCError(code: .internalError, message: "a unary request needs exactly one message")
        }
        do {
            return try Message(serializedBytes: body.readBytes(length: body.readableBytes) ?? [])
        } catch {
            throw RPCError(code: .invalidArgument, message: "Can't deserialize to message of type \(Message.self).")
        }
    }

    private func observe(_ answer: Answer, method: Method, subject: String?, peer: PeerCredentials?, duration: Duration) {
        guard metrics != nil || accessLogLevel != nil else { return }
        let code: RPCError.Code? = if case .status(let status) = answer { status.code } else { nil }
        let descriptor = method.descriptor
        metrics?.recordRPC(service: descriptor.service.fullyQualifiedService, method: descriptor.method,
                           code: AccessLog.canonicalName(code), duration: duration)
        if let accessLogLevel {
            AccessLog.record(logger: logger, level: accessLogLevel, method: descriptor.fullyQualifiedMethod, code: code,
                             duration: duration, subject: subject, peer: peer)
        }
    }
}

extension UnaryFastPath.Answer {
    /// The HTTP/2 frames of the answer (``GRPCFraming``): headers, the length-prefixed message and
    /// `grpc-status: 0` trailers; or, for an error, one trailers-only HEADERS frame with the status,
    /// its percent-encoded message and its details.
    func frames(allocator: ByteBufferAllocator) -> [HTTP2Frame.FramePayload] {
        switch self {
        case .message(let bytes):
            var buffer = allocator.buffer(capacity: 5 + bytes.count)
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(UInt32(bytes.count))
            buffer.writeBytes(bytes)
            return [
                .headers(.init(headers: Self.headers)),
                .data(.init(data: .byteBuffer(buffer))),
                .headers(.init(headers: Self.okTrailers, endStream: true)),
            ]
        case .status(let status):
            let trailers = GRPCFraming.trailers(code: status.code.rawValue, message: status.message, metadata: status.metadata, trailersOnly: true)
            return [.headers(.init(headers: trailers, endStream: true))]
        }
    }

    private static let headers = GRPCFraming.responseHeaders([:])
    private static let okTrailers = GRPCFraming.trailers(code: 0, message: "", metadata: [:], trailersOnly: false)
}
