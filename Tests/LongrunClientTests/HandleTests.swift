import GRPCCore
@testable import LongrunClient
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Operation handles")
struct OperationHandleTests {
    @Test func snapshotsDecodeMetadataAndResponse() throws {
        let snapshot = OperationSnapshot<Google_Protobuf_StringValue, Google_Protobuf_Struct>(
            operation("operations/x", done: true, metadata: try structAny(["percent": .init(numberValue: 5)]),
                      response: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("built")))
        )
        #expect(try snapshot.metadata?.fields["percent"] == Google_Protobuf_Value(numberValue: 5))
        #expect(try snapshot.result().value == "built")
        let bare = OperationSnapshot<Google_Protobuf_StringValue, Google_Protobuf_Struct>(operation("operations/y"))
        #expect(try bare.metadata == nil)
        #expect(throws: OperationError.notDone(name: "operations/y")) { try bare.result() }
    }

    @Test func aResponseOfAnotherTypeIsAClearError() throws {
        let snapshot = OperationSnapshot<Google_Protobuf_StringValue, Google_Protobuf_Struct>(
            operation("operations/x", done: true, metadata: unknownAny, response: try Google_Protobuf_Any(message: Google_Protobuf_Int64Value(7)))
        )
        let expected = OperationError.unexpectedType(
            name: "operations/x", field: "response", expected: "google.protobuf.StringValue",
            actual: "type.googleapis.com/google.protobuf.Int64Value"
        )
        #expect(throws: expected) { try snapshot.result() }
        #expect(expected.description == "operation operations/x: response is type.googleapis.com/google.protobuf.Int64Value, expected type google.protobuf.StringValue")
        #expect(throws: OperationError.self) { try snapshot.metadata }
    }

    @Test func errorsAndCancellationAreDistinct() {
        let cancelled = OperationSnapshot<Google_Protobuf_Empty, Google_Protobuf_Empty>(operation("operations/x", done: true, error: status(.cancelled, "stop")))
        #expect(throws: OperationError.cancelled(name: "operations/x", status: status(.cancelled, "stop"))) { try cancelled.result() }
        let failed = OperationSnapshot<Google_Protobuf_Empty, Google_Protobuf_Empty>(operation("operations/x", done: true, error: status(.internal, "boom")))
        #expect(throws: OperationError.failed(name: "operations/x", status: status(.internal, "boom"))) { try failed.result() }
        let empty = OperationSnapshot<Google_Protobuf_Empty, Google_Protobuf_Empty>(operation("operations/x", done: true))
        #expect(throws: OperationError.noResult(name: "operations/x")) { try empty.result() }
    }

    @Test func resultWaitsWithWaitOperation() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        let handle = fake.client.operation("operations/x", response: Google_Protobuf_StringValue.self, metadata: Google_Protobuf_Struct.self)
        async let result = handle.result()
        try await Task.sleep(for: .milliseconds(50))
        fake.finish("operations/x", response: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("built")))
        #expect(try await result.value == "built")
        #expect(fake.calls.allSatisfy { $0 == "WaitOperation" })
    }

    @Test func waitLoopsUntilDoneAndReportsUpdates() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        var client = fake.client
        client.waitCallTimeout = .milliseconds(20)
        let seen = Mutex(0)
        async let final = client.waitUntilDone("operations/x") { _ in seen.withLock { $0 += 1 } }
        // Finish only once the handle has come back for a third wait (bounded: 10 s).
        for _ in 0..<1000 where fake.calls.filter({ $0 == "WaitOperation" }).count < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        fake.finish("operations/x", error: status(.internal, "boom"))
        let operation = try await final
        #expect(operation.done)
        #expect(seen.withLock { $0 } >= 3)
        #expect(fake.calls.filter { $0 == "WaitOperation" }.count >= 3)
    }

    @Test func unimplementedWaitFallsBackToPollingWithBackoff() async throws {
        let fake = FakeLongrun(waitImplemented: false)
        fake.seed("operations/x")
        fake.state.withLock { state in
            state.onGet = { state in
                // Done on the fourth poll.
                if state.calls.filter({ $0 == "GetOperation" }).count == 4 {
                    state.complete("operations/x", with: .response(try! Google_Protobuf_Any(message: Google_Protobuf_StringValue("late"))))
                }
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await fake.client.operation("operations/x", response: Google_Protobuf_StringValue.self, metadata: Google_Protobuf_Empty.self).result()
        let elapsed = clock.now - start
        #expect(value.value == "late")
        #expect(fake.calls == ["WaitOperation", "GetOperation", "GetOperation", "GetOperation", "GetOperation"])
        // Three sleeps between four polls: 100 + 150 + 225 ms (the schedule itself is checked by
        // theBackoffSchedule; the upper bound only rules out a stall, on however busy a machine).
        #expect(elapsed >= .milliseconds(475))
        #expect(elapsed < .seconds(120))
    }

    @Test func theBackoffSchedule() {
        var delays = Backoff.polling.delays()
        let first = (0..<12).map { _ in delays.next() }
        #expect(Array(first.prefix(4)) == [.milliseconds(100), .milliseconds(150), .milliseconds(225), .microseconds(337_500)])
        #expect(first.last == .seconds(5))
        #expect(first.allSatisfy { $0 <= .seconds(5) })
    }

    @Test func aTimeoutReturnsTheRunningState() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        var client = fake.client
        client.waitCallTimeout = .milliseconds(30)
        let operation = try await client.waitUntilDone("operations/x", timeout: .milliseconds(100))
        #expect(!operation.done)
        await #expect(throws: OperationError.notDone(name: "operations/x")) {
            try await client.operation("operations/x", response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self).result(timeout: .milliseconds(50))
        }
    }

    @Test func waitingHonoursTaskCancellation() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        let handle = fake.client.operation("operations/x", response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self)
        let task = Task { try await handle.result() }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func rpcFailuresSurfaceAsClientErrors() async throws {
        let fake = FakeLongrun()
        let handle = fake.client.operation("operations/missing", response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self)
        do {
            _ = try await handle.result()
            Issue.record("expected NOT_FOUND")
        } catch let error as LongrunClientError {
            #expect(error.code == .notFound)
        }
    }

    @Test func cancelAndDelete() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        let handle = fake.client.operation("operations/x", response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self)
        try await handle.cancel(reason: "no longer needed")
        #expect(fake.state.withLock { $0.operations["operations/x"]?.cancelRequested } == true)
        try await handle.delete()
        #expect(fake.operation("operations/x") == nil)
        await #expect(throws: LongrunClientError.self) { try await handle.refresh() }
    }
}

@Suite("Producer handles")
struct ProducerHandleTests {
    @Test func createRequests() throws {
        #expect(!CreateOperationOptions().request().hasCancellation)
        let graceful = CreateOperationOptions(parent: "tenants/acme", operationID: "b-1", requestID: "r", cancellation: .cooperative(grace: .milliseconds(1500))).request()
        #expect(graceful.parent == "tenants/acme")
        #expect(graceful.operationID == "b-1")
        #expect(graceful.requestID == "r")
        #expect(graceful.cancellation.mode == .cooperative)
        #expect(graceful.cancellation.grace == Google_Protobuf_Duration(seconds: 1, nanos: 500_000_000))
        let immediate = try CreateOperationOptions(metadata: Google_Protobuf_StringValue("m"), cancellation: .immediate).request()
        #expect(immediate.cancellation.mode == .immediate)
        #expect(!immediate.cancellation.hasGrace)
        #expect(try Google_Protobuf_StringValue(unpackingAny: immediate.metadata).value == "m")
        // An Any is used as it is, not wrapped in another Any.
        let any = try Google_Protobuf_Any(message: Google_Protobuf_StringValue("n"))
        #expect(try CreateOperationOptions(metadata: any).request().metadata.typeURL == "type.googleapis.com/google.protobuf.StringValue")
    }

    @Test func progressReportsVersionAndCancellation() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation(CreateOperationOptions(operationID: "job"))
        #expect(producer.name == "operations/job")
        let first = try await producer.progress(metadata: Google_Protobuf_StringValue("step 1"))
        #expect(first.version == 2)
        #expect(!first.cancellationRequested)
        try await fake.client.cancelOperation("operations/job")
        let second = try await producer.progress(metadata: Google_Protobuf_StringValue("step 2"), expectedVersion: 3)
        #expect(second.version == 4)
        #expect(second.cancellationRequested)
        #expect(producer.isCancellationRequested)
        #expect(producer.version == 4)
    }

    @Test func runCompletesWithTheResponse() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        let done = try await producer.run { producer in
            try await producer.progress(metadata: Google_Protobuf_StringValue("working"))
            return Google_Protobuf_StringValue("result")
        }
        #expect(done.done)
        #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "result")
        #expect(fake.operation(producer.name) == done)
    }

    @Test func aCancelSeenByProgressCancelsTheWork() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        let name = producer.name
        let done = try await producer.run(cancellationPollInterval: nil) { producer in
            for step in 0..<1000 {
                if step == 3 { try await fake.client.cancelOperation(name) }
                try await producer.progress(metadata: Google_Protobuf_Int64Value(Int64(step)))
                try await Task.sleep(for: .milliseconds(20))
            }
            return Google_Protobuf_StringValue("finished anyway")
        }
        #expect(done.error.code == StatusCode.cancelled.rawValue)
        #expect(done.error.message == "cancelled at the consumer's request")
        // The work stopped at the first progress after the cancel request.
        #expect(fake.calls.filter { $0 == "UpdateOperation" }.count == 4)
    }

    @Test func aCancelSeenByPollingCancelsTheWork() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        let name = producer.name
        // Cancel once the producer has polled twice (bounded: 10 s), so the test does not depend on timing.
        let cancelAfter = Task {
            for _ in 0..<1000 where fake.count("GetOperationDetails") < 2 { try await Task.sleep(for: .milliseconds(10)) }
            try await fake.client.cancelOperation(name)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let done = try await producer.run(cancellationPollInterval: .milliseconds(30)) { _ in
            try await Task.sleep(for: .seconds(3600))
            return Google_Protobuf_Empty()
        }
        try await cancelAfter.value
        // The hour-long work was cut short (the bound is loose: CI machines can be very busy).
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(120))
        #expect(done.error.code == StatusCode.cancelled.rawValue)
        #expect(done.error.message == "cancelled at the consumer's request")
        // One GetOperationDetails per interval, and nothing else to poll with.
        let polls = fake.count("GetOperationDetails")
        #expect(polls >= 3, "two polls before the cancel, and one that saw it")
        #expect(polls <= Int(elapsed / .milliseconds(30)) + 1)
        #expect(!fake.calls.contains("ListOperations"))
        #expect(!fake.calls.contains("GetOperation"))
    }

    @Test func aCooperativeProducerMayStillSucceed() async throws {
        let fake = FakeLongrun()
        // Not about the cancel grace: a starved test machine must not let its wall-clock 30 s pass.
        fake.state.withLock { $0.defaultGrace = .seconds(86_400) }
        let producer = try await fake.client.createOperation()
        try await fake.client.cancelOperation(producer.name)
        let done = try await producer.run(cancellationPollInterval: nil) { producer in
            let progress = try await producer.progress(metadataAny: nil)
            #expect(progress.cancellationRequested)
            // Ignores the cancellation (no await that checks it) and returns a result.
            return Google_Protobuf_StringValue("done regardless")
        }
        #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "done regardless")
    }

    @Test func workErrorsBecomeOperationErrors() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "the build broke" } }
        let fake = FakeLongrun()
        let unknown = try await fake.client.createOperation().run { _ -> Google_Protobuf_Empty in throw Broken() }
        #expect(unknown.error == status(.unknown, "the build broke"))

        let rpc = try await fake.client.createOperation().run { _ -> Google_Protobuf_Empty in
            _ = try await fake.client.getOperation("operations/missing")
            return Google_Protobuf_Empty()
        }
        #expect(rpc.error.code == StatusCode.notFound.rawValue)

        let upstream = try await fake.client.createOperation().run { _ -> Google_Protobuf_Empty in
            throw OperationError.failed(name: "operations/dep", status: status(.dataLoss, "dependency lost"))
        }
        #expect(upstream.error == status(.dataLoss, "dependency lost"))
    }

    @Test func anOperationDoneElsewhereIsReturnedAsItIs() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation(CreateOperationOptions(cancellation: .immediate))
        let name = producer.name
        let done = try await producer.run(cancellationPollInterval: nil) { producer in
            try await fake.client.cancelOperation(name)
            try await producer.progress(metadataAny: nil) // FAILED_PRECONDITION: done
            return Google_Protobuf_Empty()
        }
        #expect(done.done)
        #expect(done.error == status(.cancelled, "operation cancelled"))
        #expect(fake.calls.suffix(2) == ["CompleteOperation", "GetOperation"])
    }

    @Test func cancellingTheCallerStillCompletes() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        let task = Task {
            try await producer.run(cancellationPollInterval: nil) { _ in
                try await Task.sleep(for: .seconds(30))
                return Google_Protobuf_Empty()
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let done = try await task.value
        #expect(done.error == status(.cancelled, "the producer was cancelled"))
        #expect(fake.operation(producer.name)?.done == true)
    }

    @Test func completionStatusMapping() {
        let requested = ProducerHandle.completionStatus(for: CancellationError(), cancellationRequested: true, callerCancelled: false)
        #expect(requested.code == 1)
        let rpcCancelled = ProducerHandle.completionStatus(for: RPCError(code: .cancelled, message: "x"), cancellationRequested: true, callerCancelled: false)
        #expect(rpcCancelled.code == 1)
        let spurious = ProducerHandle.completionStatus(for: CancellationError(), cancellationRequested: false, callerCancelled: false)
        #expect(spurious.code == StatusCode.unknown.rawValue)
        let rpc = ProducerHandle.completionStatus(for: RPCError(code: .permissionDenied, message: "no"), cancellationRequested: false, callerCancelled: false)
        #expect(rpc == status(.permissionDenied, "no"))
        let ok = ProducerHandle.completionStatus(for: LongrunClientError(code: .ok, message: ""), cancellationRequested: false, callerCancelled: false)
        #expect(ok.code == StatusCode.unknown.rawValue)
        #expect(!ok.message.isEmpty)
    }
}
