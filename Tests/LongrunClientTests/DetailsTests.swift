import Foundation
import GRPCCore
@testable import LongrunClient
import LongrunProto
import SwiftProtobuf
import Testing

/// 2026-01-01T00:00:00Z.
let t0 = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 0)

func at(_ seconds: Int64) -> Google_Protobuf_Timestamp {
    Google_Protobuf_Timestamp(seconds: t0.seconds + seconds, nanos: 0)
}

/// The code of the ``LongrunClientError`` `body` throws (nil if it throws nothing or another error).
func errorCode(_ body: () async throws -> Void) async -> StatusCode? {
    do {
        try await body()
        return nil
    } catch let error as LongrunClientError {
        return error.code
    } catch {
        return nil
    }
}

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

@Suite("CLI helpers")
struct CLIHelperTests {
    @Test func updateTimesAreReadBoundedlyConcurrently() async throws {
        let fake = FakeLongrun()
        fake.setTime(t0)
        var names: [String] = []
        for index in 0..<20 {
            let name = "operations/op-\(index)"
            fake.seed(name)
            if index % 2 == 0 {
                fake.advance(by: .seconds(1))
                _ = try await fake.client.updateOperation(name, metadata: nil)
            }
            names.append(name)
        }
        fake.state.withLock { $0.detailsDelay = .milliseconds(20) }
        let times = await fake.client.updateTimes(of: names + ["operations/gone"], concurrency: 8)
        #expect(times.count == 20)
        for name in names {
            #expect(times[name] == fake.stored(name)?.updateTime)
        }
        #expect(times["operations/op-2"] == at(2))
        #expect(times["operations/op-3"] == at(2))
        #expect(fake.count("GetOperationDetails") == 21)
        let most = fake.state.withLock { $0.maxDetailsInFlight }
        #expect(most <= 8)
        #expect(most >= 2)
    }

    @Test func updateTimesGiveUpOnUnimplemented() async throws {
        let fake = FakeLongrun()
        let names = (0..<20).map { "operations/op-\($0)" }
        names.forEach { fake.seed($0) }
        fake.state.withLock { $0.detailsImplemented = false }
        #expect(await fake.client.updateTimes(of: names, concurrency: 4).isEmpty)
        #expect(fake.count("GetOperationDetails") == 4)
    }

    @Test func resendingTheMetadataKeepsIt() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x", metadata: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("step 3")))
        let response = try await fake.client.resendMetadata("operations/x")
        #expect(response.version == 2)
        #expect(!response.cancelRequested)
        #expect(try Google_Protobuf_StringValue(unpackingAny: response.operation.metadata).value == "step 3")
        #expect(fake.calls == ["GetOperationDetails", "UpdateOperation"])

        fake.seed("operations/bare")
        let bare = try await fake.client.resendMetadata("operations/bare")
        #expect(!bare.operation.hasMetadata && bare.version == 2)
    }

    @Test func resendingNeverUndoesAConcurrentUpdate() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x", metadata: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("old")))
        let newer = try Google_Protobuf_Any(message: Google_Protobuf_StringValue("newer"))
        fake.state.withLock { state in
            state.onDetails = { state in
                // Another producer updates the operation right after the first read.
                guard state.calls.filter({ $0 == "GetOperationDetails" }).count == 1 else { return }
                state.transition("operations/x") { $0.operation.metadata = newer }
            }
        }
        let response = try await fake.client.resendMetadata("operations/x")
        #expect(try Google_Protobuf_StringValue(unpackingAny: response.operation.metadata).value == "newer")
        #expect(response.version == 3)
        #expect(fake.calls == ["GetOperationDetails", "UpdateOperation", "GetOperationDetails", "UpdateOperation"])
    }

    @Test func resendingWithAnExpectedVersion() async throws {
        let fake = FakeLongrun()
        fake.seed("operations/x", metadata: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("m")))
        #expect(await errorCode { _ = try await fake.client.resendMetadata("operations/x", expectedVersion: 7) } == .aborted)
        #expect(fake.count("UpdateOperation") == 1)
        #expect(try await fake.client.resendMetadata("operations/x", expectedVersion: 1).version == 2)

        try await fake.client.cancelOperation("operations/x")
        #expect(try await fake.client.resendMetadata("operations/x").cancelRequested)
        fake.finish("operations/x", error: status(.cancelled, "stopped"))
        #expect(await errorCode { _ = try await fake.client.resendMetadata("operations/x") } == .failedPrecondition)
        #expect(await errorCode { _ = try await fake.client.resendMetadata("operations/nope") } == .notFound)
    }
}

@Suite("Details output")
struct DetailsOutputTests {
    static let pending = Longrun_V1_OperationDetails.with {
        $0.operation = operation("operations/build-42", metadata: try! structAny(["percent": .init(numberValue: 40)]))
        $0.version = 3
        $0.createTime = t0
        $0.updateTime = at(2)
        $0.creator = .with { $0.label = "worker-1"; $0.uid = 1000; $0.pid = 42 }
        $0.requestID = "r-1"
        $0.cancellation = .with { $0.mode = .cooperative; $0.grace = Google_Protobuf_Duration(seconds: 30) }
        $0.cancelRequested = true
        $0.cancelReason = "too slow"
        $0.cancelDeadline = at(32)
        $0.lastSequence = 17
    }

    @Test func aRunningOperationWithACancelPending() {
        #expect(HumanOutput.detailsBlock(Self.pending) == """
            name:         operations/build-42
            done:         no
            metadata:     google.protobuf.Struct {"percent":40.0}
            version:      3
            created:      2026-01-01T00:00:00Z
            updated:      2026-01-01T00:00:02Z
            creator:      worker-1 uid=1000 pid=42
            request id:   r-1
            cancellation: cooperative grace=30s
            cancel:       requested reason="too slow" deadline=2026-01-01T00:00:32Z
            hold:         none
            lease:        none
            """)
    }

    @Test func aCancelledImmediateOperation() {
        let details = Longrun_V1_OperationDetails.with {
            $0.operation = operation("operations/x", done: true, error: status(.cancelled, "operation cancelled"))
            $0.version = 3
            $0.createTime = Google_Protobuf_Timestamp(seconds: 0, nanos: 0)
            $0.updateTime = Google_Protobuf_Timestamp(seconds: 1, nanos: 0)
            $0.endTime = Google_Protobuf_Timestamp(seconds: 1, nanos: 0)
            $0.creator = Longrun_V1_Actor()
            $0.cancellation = .with { $0.mode = .immediate }
            $0.cancelRequested = true
        }
        #expect(HumanOutput.detailsBlock(details) == """
            name:         operations/x
            done:         yes
            result:       cancelled
            error:        CANCELLED (1): operation cancelled
            version:      3
            created:      1970-01-01T00:00:00Z
            updated:      1970-01-01T00:00:01Z
            ended:        1970-01-01T00:00:01Z
            creator:      -
            cancellation: immediate
            cancel:       requested
            hold:         none
            lease:        none
            """)
    }

    @Test func aPlainOperation() {
        let details = Longrun_V1_OperationDetails.with {
            $0.operation = operation("operations/y", done: true, response: try! Google_Protobuf_Any(message: Google_Protobuf_StringValue("ok")))
            $0.version = 2
            $0.createTime = t0
            $0.updateTime = at(1)
            $0.endTime = at(1)
            $0.creator = .with { $0.label = "ci" }
        }
        #expect(HumanOutput.detailsBlock(details) == """
            name:     operations/y
            done:     yes
            result:   ok
            response: google.protobuf.StringValue "ok"
            version:  2
            created:  2026-01-01T00:00:00Z
            updated:  2026-01-01T00:00:01Z
            ended:    2026-01-01T00:00:01Z
            creator:  ci
            cancel:   not requested
            hold:     none
            lease:    none
            """)
    }

    @Test func aHeldOperationSaysSoAndWhy() {
        var details = Self.pending
        details.held = true
        details.holdReason = "audit 42"
        #expect(HumanOutput.detailsBlock(details).contains("""
            hold:         held reason="audit 42"
            lease:        none
            """))
        details.holdReason = ""
        #expect(HumanOutput.detailsBlock(details).contains("hold:         held\n"))
    }

    @Test func aLeasedOperationShowsItsLeaseAndHolder() {
        var details = Self.pending
        details.lease = .with {
            $0.holder = .with { $0.label = "worker-2"; $0.uid = 1000; $0.pid = 77; $0.host = "build-3" }
            $0.ttl = Google_Protobuf_Duration(seconds: 30)
            $0.expireTime = at(40)
        }
        #expect(HumanOutput.detailsBlock(details).hasSuffix("""
            lease:        ttl=30s expires=2026-01-01T00:00:40Z holder=worker-2 uid=1000 pid=77 host=build-3
            """))
    }

    @Test func theJSONIsTheDetailsMessage() throws {
        var details = Self.pending
        details.operation.metadata = unknownAny
        let line = JSONOutput.line(details)
        #expect(!line.contains("\n"))
        let object = try jsonObject(line)
        #expect(object["version"] as? Int == 3)
        #expect(object["cancelRequested"] as? Bool == true)
        #expect(object["cancelReason"] as? String == "too slow")
        #expect(object["cancelDeadline"] as? String == "2026-01-01T00:00:32Z")
        #expect(object["createTime"] as? String == "2026-01-01T00:00:00Z")
        #expect(object["requestId"] as? String == "r-1")
        #expect(object["lastSequence"] as? Int == 17)
        #expect((object["creator"] as? [String: Any])?["label"] as? String == "worker-1")
        let operation = try #require(object["operation"] as? [String: Any])
        #expect(operation["name"] as? String == "operations/build-42")
        let metadata = try #require(operation["metadata"] as? [String: Any])
        #expect(metadata["@type"] as? String == "type.googleapis.com/acme.v1.BuildMetadata")
        #expect(metadata["value"] as? String == "CCr/")

        // Registered types print in the JSON mapping, and the line decodes back.
        LongrunTypes.registerAll()
        let decoded = try Longrun_V1_OperationDetails(jsonString: JSONOutput.line(Self.pending))
        #expect(try decoded.serializedBytes() as [UInt8] == Self.pending.serializedBytes())
    }
}
