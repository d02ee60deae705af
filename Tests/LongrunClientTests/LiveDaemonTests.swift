import Foundation
import LongrunClient
import LongrunProto
import SwiftProtobuf
import Testing

/// Against a running `longrund`, only when `LONGRUN_TEST_SOCKET` names its socket, e.g.
/// `longrund --data-dir /tmp/lr --socket /tmp/lr.sock &` then
/// `LONGRUN_TEST_SOCKET=/tmp/lr.sock swift test --filter LiveDaemonTests`.
@Suite("Live daemon", .enabled(if: ProcessInfo.processInfo.environment["LONGRUN_TEST_SOCKET"] != nil))
struct LiveDaemonTests {
    let socket = ProcessInfo.processInfo.environment["LONGRUN_TEST_SOCKET"] ?? ""

    @Test func aProducerAndAConsumer() async throws {
        try await withLongrunClient(socketPath: socket, actor: "client-tests") { client in
            let producer = try await client.createOperation(
                CreateOperationOptions(metadata: Google_Protobuf_StringValue("queued"), cancellation: .cooperative(grace: .seconds(5)))
            )
            let consumer = client.operation(producer.name, response: Google_Protobuf_StringValue.self, metadata: Google_Protobuf_StringValue.self)
            #expect(try await consumer.metadata?.value == "queued")
            async let result = consumer.result()
            let done = try await producer.run { producer in
                for step in 1...3 {
                    try await producer.progress(metadata: Google_Protobuf_StringValue("step \(step)"))
                    try await Task.sleep(for: .milliseconds(50))
                }
                return Google_Protobuf_StringValue("built")
            }
            #expect(done.done)
            #expect(try await result.value == "built")
            #expect(try await consumer.metadata?.value == "step 3")
            let events = try await client.listAllOperationEvents(producer.name)
            #expect(events.count == 5)
            #expect(events.first?.actor.label == "client-tests")
        }
    }

    @Test func aCancelRequestStopsTheWorkAndTheConsumerSeesIt() async throws {
        try await withLongrunClient(socketPath: socket) { client in
            let producer = try await client.createOperation()
            let consumer = client.operation(producer.name, response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self)
            async let done = producer.run(cancellationPollInterval: .milliseconds(200)) { _ in
                try await Task.sleep(for: .seconds(60))
                return Google_Protobuf_Empty()
            }
            try await Task.sleep(for: .milliseconds(300))
            try await consumer.cancel(reason: "test")
            await #expect(throws: OperationError.self) { try await consumer.result(timeout: .seconds(10)) }
            let final = try await done
            #expect(final.error.code == StatusCode.cancelled.rawValue)
            #expect(final.error.message == "cancelled at the consumer's request")
            try await consumer.delete()
            do {
                _ = try await consumer.refresh()
                Issue.record("expected NOT_FOUND")
            } catch let error as LongrunClientError {
                #expect(error.code == .notFound)
                #expect(error.reason == "OPERATION_NOT_FOUND")
            }
        }
    }

    @Test func detailsFollowEveryTransition() async throws {
        try await withLongrunClient(socketPath: socket, actor: "details-tests") { client in
            let producer = try await client.createOperation(CreateOperationOptions(
                requestID: "details-\(UInt64.random(in: 0...UInt64.max))",
                metadata: Google_Protobuf_StringValue("queued"), cancellation: .cooperative(grace: .seconds(60))
            ))
            let consumer = client.operation(producer.name, response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_StringValue.self)
            let created = try await consumer.details()
            #expect(created.version == 1)
            #expect(created.creator.label == "details-tests")
            #expect(created.requestID.hasPrefix("details-"))
            #expect(created.createTime == created.updateTime && !created.hasEndTime)
            #expect(created.cancellation.mode == .cooperative && created.cancellation.grace == Google_Protobuf_Duration(seconds: 60))
            #expect(!created.cancelRequested && !created.hasCancelDeadline)

            try await producer.progress(metadata: Google_Protobuf_StringValue("step 1"))
            try await consumer.cancel(reason: "enough")
            let cancelling = try await producer.details()
            #expect(cancelling.version == 3)
            #expect(cancelling.cancelRequested && cancelling.cancelReason == "enough")
            #expect(cancelling.hasCancelDeadline)
            #expect(cancelling.cancelDeadline.seconds >= cancelling.updateTime.seconds + 59)
            #expect(cancelling.lastSequence > created.lastSequence)
            #expect(producer.isCancellationRequested)
            #expect(producer.version == 3)

            try await producer.fail(code: .cancelled, message: "stopped")
            let done = try await consumer.details()
            #expect(done.version == 4)
            #expect(done.operation.done && done.hasEndTime && !done.hasCancelDeadline)
            #expect(done.endTime == done.updateTime)

            try await consumer.delete()
            do {
                _ = try await consumer.details()
                Issue.record("expected NOT_FOUND")
            } catch let error as LongrunClientError {
                #expect(error.code == .notFound)
            }
        }
    }

    @Test func anImmediateCancelSeenByPolling() async throws {
        try await withLongrunClient(socketPath: socket) { client in
            let producer = try await client.createOperation(CreateOperationOptions(cancellation: .immediate))
            async let done = producer.run(cancellationPollInterval: .milliseconds(100)) { _ in
                try await Task.sleep(for: .seconds(60))
                return Google_Protobuf_Empty()
            }
            try await Task.sleep(for: .milliseconds(200))
            try await client.cancelOperation(producer.name, reason: "now")
            let final = try await done
            #expect(final.error.code == StatusCode.cancelled.rawValue)
            let details = try await client.details(producer.name)
            #expect(details.version == 3)
            #expect(details.cancelRequested && !details.hasCancelDeadline)
        }
    }

    @Test func waitingIsCancellable() async throws {
        try await withLongrunClient(socketPath: socket) { client in
            let producer = try await client.createOperation()
            let consumer = client.operation(producer.name, response: Google_Protobuf_Empty.self, metadata: Google_Protobuf_Empty.self)
            let waiter = Task { try await consumer.result() }
            try await Task.sleep(for: .milliseconds(200))
            let clock = ContinuousClock()
            let start = clock.now
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            // Well short of the 30 s WaitOperation call it cut; loose, as CI runs every suite at
            // once on two cores (a request there once took over a second to reach the daemon).
            #expect(clock.now - start < .seconds(15))
            try await producer.fail(code: .aborted, message: "abandoned")
            await #expect(throws: OperationError.failed(name: producer.name, status: .with { $0.code = 10; $0.message = "abandoned" })) {
                try await consumer.result()
            }
        }
    }
}
