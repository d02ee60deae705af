import Foundation
import GRPCCore
@testable import LongrunClient
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Operation details")
struct OperationDetailsTests {
    @Test func everyTransitionCounts() async throws {
        let fake = FakeLongrun()
        fake.setTime(t0)
        let client = fake.client
        let producer = try await client.createOperation(CreateOperationOptions(
            operationID: "job", requestID: "r-1", metadata: Google_Protobuf_StringValue("queued"),
            cancellation: .cooperative(grace: .seconds(10))
        ))
        let created = try await client.details("operations/job")
        #expect(created.operation == producer.created)
        #expect(created.version == 1)
        #expect(created.createTime == t0 && created.updateTime == t0 && !created.hasEndTime)
        #expect(created.creator.label == "test")
        #expect(created.requestID == "r-1")
        #expect(created.cancellation.mode == .cooperative && created.cancellation.grace == Google_Protobuf_Duration(seconds: 10))
        #expect(!created.cancelRequested && created.cancelReason.isEmpty && !created.hasCancelDeadline)
        #expect(created.lastSequence == 1)

        fake.advance(by: .seconds(1))
        try await producer.progress(metadata: Google_Protobuf_StringValue("step 1"))
        let progressed = try await client.details("operations/job")
        #expect(progressed.version == 2)
        #expect(progressed.updateTime == at(1) && progressed.createTime == t0)
        #expect(try Google_Protobuf_StringValue(unpackingAny: progressed.operation.metadata).value == "step 1")

        fake.advance(by: .seconds(1))
        try await client.cancelOperation("operations/job", reason: "too slow")
        let cancelling = try await client.details("operations/job")
        #expect(cancelling.version == 3)
        #expect(cancelling.cancelRequested && cancelling.cancelReason == "too slow")
        #expect(cancelling.cancelDeadline == at(12))
        #expect(cancelling.updateTime == at(2) && !cancelling.operation.done)

        // A repeated request changes nothing.
        fake.advance(by: .seconds(1))
        try await client.cancelOperation("operations/job", reason: "again")
        #expect(try await client.details("operations/job") == cancelling)

        try await producer.fail(code: .cancelled, message: "stopped")
        let done = try await client.details("operations/job")
        #expect(done.version == 4)
        #expect(done.endTime == at(3) && done.updateTime == at(3))
        #expect(done.operation.done && done.operation.error.code == 1)
        #expect(done.cancelRequested && done.cancelReason == "too slow")
        #expect(!done.hasCancelDeadline)
        #expect(done.lastSequence == 4)

        // Cancelling a done operation changes nothing either.
        try await client.cancelOperation("operations/job")
        #expect(try await client.details("operations/job").version == 4)

        try await client.deleteOperation("operations/job")
        #expect(await errorCode { _ = try await client.details("operations/job") } == .notFound)
        #expect(fake.stored("operations/job")?.version == 5)
        // Names are never reused; the request id points at the deleted operation.
        #expect(await errorCode { _ = try await client.createOperation(CreateOperationOptions(operationID: "job")) } == .alreadyExists)
        #expect(await errorCode { _ = try await client.createOperation(CreateOperationOptions(requestID: "r-1")) } == .notFound)
    }

    @Test func anImmediateCancelIsTwoTransitions() async throws {
        let fake = FakeLongrun()
        fake.setTime(t0)
        let producer = try await fake.client.createOperation(CreateOperationOptions(cancellation: .immediate))
        fake.advance(by: .seconds(1))
        try await fake.client.cancelOperation(producer.name)
        let details = try await fake.client.details(producer.name)
        #expect(details.version == 3)
        #expect(details.lastSequence == 3)
        #expect(details.operation.done)
        #expect(details.operation.error == status(.cancelled, "operation cancelled"))
        #expect(details.cancelRequested && !details.hasCancelDeadline)
        #expect(details.endTime == at(1))
        #expect(details.cancellation.mode == .immediate)
    }

    @Test func theEngineCancelsWhenTheDefaultGraceIsOver() async throws {
        let fake = FakeLongrun()
        fake.setTime(t0)
        let producer = try await fake.client.createOperation()
        try await fake.client.cancelOperation(producer.name)
        let pending = try await fake.client.details(producer.name)
        #expect(pending.cancelDeadline == at(30))
        #expect(pending.cancellation.mode == .cooperative && !pending.cancellation.hasGrace)
        fake.advance(by: .seconds(29))
        #expect(try await !fake.client.details(producer.name).operation.done)
        fake.advance(by: .seconds(2))
        let cancelled = try await fake.client.details(producer.name)
        #expect(cancelled.operation.done)
        #expect(cancelled.operation.error.code == StatusCode.cancelled.rawValue)
        #expect(cancelled.version == 3)
        #expect(!cancelled.hasCancelDeadline)
    }

    @Test func unknownAndMalformedNames() async throws {
        let fake = FakeLongrun()
        #expect(await errorCode { _ = try await fake.client.details("operations/nope") } == .notFound)
        #expect(await errorCode { _ = try await fake.client.details("nope") } == .invalidArgument)
    }

    @Test func theHandlesShowDetails() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation(CreateOperationOptions(metadata: Google_Protobuf_StringValue("m")))
        let consumer = fake.client.operation(producer.name, response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_StringValue.self)
        let first = try await consumer.details()
        #expect(first.version == 1)
        #expect(try OperationSnapshot<Google_Protobuf_Empty, Google_Protobuf_StringValue>(first.operation).metadata?.value == "m")

        #expect(try await !producer.checkCancellation())
        #expect(producer.version == 1)
        try await consumer.cancel(reason: "enough")
        #expect(!producer.isCancellationRequested)
        let seen = try await producer.details()
        #expect(seen.cancelRequested && seen.cancelReason == "enough")
        #expect(producer.isCancellationRequested)
        #expect(producer.version == 2)
        #expect(try await producer.checkCancellation())

        // A handle made from a name alone learns the version too.
        let other = fake.client.producer(for: producer.name)
        #expect(other.version == nil)
        try await other.details()
        #expect(other.version == 2)
        #expect(other.isCancellationRequested)
    }

    @Test func checkCancellationSeesAnOperationDoneElsewhere() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x")
        let producer = fake.client.producer(for: "operations/x")
        fake.finish("operations/x", response: try Google_Protobuf_Any(message: Google_Protobuf_Empty()))
        #expect(try await producer.checkCancellation())
        #expect(!producer.isCancellationRequested)
    }
}

@Suite("Cancellation polling")
struct CancellationPollingTests {
    @Test func aPollSeesAnOperationDoneElsewhere() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        let name = producer.name
        let finisher = Task {
            try await Task.sleep(for: .milliseconds(60))
            fake.finish(name, response: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("by someone else")))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let done = try await producer.run(cancellationPollInterval: .milliseconds(20)) { _ in
            try await Task.sleep(for: .seconds(3600))
            return Google_Protobuf_StringValue("mine")
        }
        try await finisher.value
        // The hour-long work was cut short (the bound is loose: CI machines can be very busy).
        #expect(clock.now - start < .seconds(120))
        #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "by someone else")
        #expect(fake.calls.suffix(2) == ["CompleteOperation", "GetOperation"])
    }

    @Test func transientFailuresArePolledThrough() async throws {
        let fake = FakeLongrun()
        // Not about the cancel grace: a starved test machine must not let its wall-clock 30 s pass.
        fake.state.withLock { $0.defaultGrace = .seconds(86_400) }
        let producer = try await fake.client.createOperation()
        try await fake.client.cancelOperation(producer.name)
        fake.state.withLock { $0.failingDetails = 3 }
        let done = try await producer.run(cancellationPollInterval: .milliseconds(10)) { _ in
            try await Task.sleep(for: .seconds(30))
            return Google_Protobuf_Empty()
        }
        #expect(done.error == status(.cancelled, "cancelled at the consumer's request"))
        #expect(fake.count("GetOperationDetails") == 4)
    }

    @Test func pollingStopsOnUnimplementedAndTheWorkGoesOn() async throws {
        let fake = FakeLongrun()
        fake.state.withLock { $0.detailsImplemented = false }
        let producer = try await fake.client.createOperation()
        let done = try await producer.run(cancellationPollInterval: .milliseconds(10)) { _ in
            try await Task.sleep(for: .milliseconds(150))
            return Google_Protobuf_StringValue("finished")
        }
        #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "finished")
        #expect(fake.count("GetOperationDetails") == 1)
        #expect(!fake.calls.contains("ListOperations") && !fake.calls.contains("GetOperation"))
    }

    @Test func pollingStopsOnceTheOperationIsDeleted() async throws {
        let fake = FakeLongrun()
        let producer = try await fake.client.createOperation()
        try await fake.client.deleteOperation(producer.name)
        await #expect(throws: LongrunClientError.self) {
            try await producer.run(cancellationPollInterval: .milliseconds(10)) { _ in
                try await Task.sleep(for: .milliseconds(150))
                return Google_Protobuf_Empty()
            }
        }
        #expect(fake.count("GetOperationDetails") == 1)
        #expect(fake.calls.last == "CompleteOperation")
    }

    @Test func noPollingWithoutAnInterval() async throws {
        let fake = FakeLongrun()
        // Not about the cancel grace: a starved test machine must not let its wall-clock 30 s pass.
        fake.state.withLock { $0.defaultGrace = .seconds(86_400) }
        let producer = try await fake.client.createOperation()
        try await fake.client.cancelOperation(producer.name)
        let done = try await producer.run(cancellationPollInterval: nil) { _ in
            try await Task.sleep(for: .milliseconds(50))
            return Google_Protobuf_Empty()
        }
        #expect(done.response.typeURL == "type.googleapis.com/google.protobuf.Empty")
        #expect(fake.count("GetOperationDetails") == 0)
    }
}
