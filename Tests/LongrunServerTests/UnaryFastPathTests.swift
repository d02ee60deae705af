import GRPCCore
import GRPCProtobuf
import LongrunEngine
import LongrunProto
@testable import LongrunServer
import LongrunTestSupport
import SwiftProtobuf
import Testing

/// GetOperation answered on the event loop (UnaryFastPath) must answer exactly what grpc-swift's
/// path answers: the same operation bytes, the same code, message and google.rpc.Status details.
@Suite struct UnaryFastPathTests {
    enum Answer: Equatable {
        case operation([UInt8])
        case error(code: RPCError.Code, message: String, details: [UInt8])
    }

    /// The names asked for, covering every kind of answer: running, succeeded, failed, deleted,
    /// unknown, malformed.
    static func names(created: [String]) -> [String] {
        created + ["operations/missing", "not a name", ""]
    }

    /// Creates a running, a succeeded, a failed and a deleted operation; returns the names to ask
    /// for (``names(created:)``).
    static func createEveryKind(_ h: Harness) async throws -> [String] {
        let running = try await h.create(id: "running", metadata: any(Google_Protobuf_StringValue("step 1")))
        let succeeded = try await h.create(id: "succeeded")
        _ = try await h.complete(succeeded.name, response: any(Google_Protobuf_StringValue("built")))
        let failed = try await h.create(id: "failed")
        _ = try await h.producers.completeOperation(.with {
            $0.name = failed.name
            $0.error = .with { $0.code = 9; $0.message = "the disk is full" }
        })
        let deleted = try await h.create(id: "deleted")
        _ = try await h.complete(deleted.name, response: any(Google_Protobuf_Empty()))
        _ = try await h.operations.deleteOperation(.with { $0.name = deleted.name })
        return names(created: [running.name, succeeded.name, failed.name, deleted.name])
    }

    static func answers(_ h: Harness, names: [String]) async throws -> [Answer] {
        var answers: [Answer] = []
        for name in names {
            do {
                let operation = try await h.operations.getOperation(.with { $0.name = name })
                answers.append(.operation(try operation.serializedBytes()))
            } catch let error as RPCError {
                let details: [UInt8] = (try? error.unpackGoogleRPCStatus()).map { try! $0.serializedBytes() } ?? []
                answers.append(.error(code: error.code, message: error.message, details: details))
            }
        }
        return answers
    }

    @Test func getOperationAnswersTheSameOnTheEventLoopAsThroughGRPCSwift() async throws {
        let directory = TemporaryDirectory(prefix: "longrun-fastpath")
        defer { directory.remove() }
        let limit = 256
        let (names, slow) = try await Harness.with(reusing: directory, server: { $0.answersOnEventLoop = false; $0.maximumRequestBytes = limit }) { h in
            let names = try await Self.createEveryKind(h)
            let answers = try await Self.answers(h, names: names)
            #expect(h.server.callsAnsweredOnEventLoop == 0)
            return (names, answers)
        }
        let fast = try await Harness.with(reusing: directory, server: { $0.maximumRequestBytes = limit }) { h in
            let answers = try await Self.answers(h, names: names)
            #expect(h.server.callsAnsweredOnEventLoop == names.count)
            return answers
        }
        #expect(fast == slow)
        // Every kind of answer was exercised: an operation, NOT_FOUND and INVALID_ARGUMENT.
        let codes = Set(slow.compactMap { answer -> RPCError.Code? in if case .error(let code, _, _) = answer { code } else { nil } })
        #expect(codes == Set<RPCError.Code>([.notFound, .invalidArgument]))
        #expect(slow.filter { if case .operation = $0 { true } else { false } }.count == 3)
    }

    /// Lists covering every kind of answer: pages walked with their tokens, in one collection and
    /// across several, with the filter the index answers and small pages (on the event loop) and
    /// with other filters or a page over 100 (in a task); and each refusal (filter, page size, page
    /// token, name).
    static func lists(_ h: Harness) async throws -> [Answer] {
        var answers: [Answer] = []
        var tokens: [String] = []
        let walks: [(name: String, filter: String, size: Int32)] = [
            ("operations", "", 2), ("operations", "done = false", 2), ("operations", "done = true", 2),
            ("tenants/-/operations", "", 2), ("-", "done = false", 2), ("operations", "", 0), ("operations", "", 150),
        ]
        for walk in walks {
            var request = Google_Longrunning_ListOperationsRequest()
            request.name = walk.name
            request.filter = walk.filter
            request.pageSize = walk.size
            var pages = 0
            repeat {
                var page = Google_Longrunning_ListOperationsResponse()
                answers.append(try await answer { page = try await h.operations.listOperations(request); return page })
                request.pageToken = page.nextPageToken
                tokens.append(page.nextPageToken)
                pages += 1
            } while !request.pageToken.isEmpty && pages < 20
        }
        let refused: [Google_Longrunning_ListOperationsRequest] = [
            .with { $0.name = "operations"; $0.filter = "done = maybe" },
            .with { $0.name = "operations"; $0.pageSize = -1 },
            .with { $0.name = "operations"; $0.pageToken = "not a token" },
            // A token of the unfiltered walk, with another filter.
            .with { $0.name = "operations"; $0.filter = "done = true"; $0.pageToken = tokens[0] },
            .with { $0.name = "not/a/collection!" },
        ]
        for request in refused { answers.append(try await answer { try await h.operations.listOperations(request) }) }
        return answers
    }

    @Test func listOperationsAnswersTheSameOnTheEventLoopAsThroughGRPCSwift() async throws {
        let directory = TemporaryDirectory(prefix: "longrun-fastpath")
        defer { directory.remove() }
        let slow = try await Harness.with(reusing: directory, server: { $0.answersOnEventLoop = false }) { h in
            _ = try await Self.createEveryKind(h)
            for parent in ["tenants/a", "tenants/b"] {
                let created = try await h.create(id: "in-\(parent.dropFirst(8))", parent: parent)
                _ = try await h.complete(created.name, response: any(Google_Protobuf_Empty()))
                _ = try await h.create(id: "running", parent: parent)
            }
            let answers = try await Self.lists(h)
            #expect(h.server.callsAnsweredOnEventLoop == 0)
            return answers
        }
        let fast = try await Harness.with(reusing: directory) { h in
            let answers = try await Self.lists(h)
            // Every call was answered by this path: on the event loop or from its own task.
            #expect(h.server.callsAnsweredOnEventLoop == answers.count)
            return answers
        }
        #expect(fast == slow)
        let pages = slow.filter { if case .operation = $0 { true } else { false } }
        #expect(pages.count >= 10)
        let codes = Set(slow.compactMap { answer -> RPCError.Code? in if case .error(let code, _, _) = answer { code } else { nil } })
        #expect(codes == [.invalidArgument])
    }

    @Test func aPageOfLargeOperationsArrivesWholeFromTheEventLoop() async throws {
        try await Harness.with { h in
            // 700 KB of metadata each: the page's byte bound (3 MiB) ends it after four, a response
            // of about 2.8 MB written on the event loop through HTTP/2's flow control.
            let big = Google_Protobuf_StringValue(String(repeating: "m", count: 700_000))
            var created: [String] = []
            for index in 0..<6 { created.append(try await h.create(id: "big-\(index)", metadata: any(big)).name) }
            let before = h.server.callsAnsweredOnEventLoop
            var request = Google_Longrunning_ListOperationsRequest()
            request.name = "operations"
            request.pageSize = 10
            var listed: [String] = []
            repeat {
                let page = try await h.operations.listOperations(request)
                #expect(page.operations.count <= 4)
                #expect(page.operations.allSatisfy { $0.metadata.value.count > 700_000 })
                listed += page.operations.map(\.name)
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty && listed.count < 100
            #expect(listed == created)
            #expect(h.server.callsAnsweredOnEventLoop - before == 2)
        }
    }

    /// One answer of any call: the response's bytes, or the error's code, message and details.
    static func answer(_ call: () async throws -> some SwiftProtobuf.Message) async throws -> Answer {
        do {
            return .operation(try await call().serializedBytes())
        } catch let error as RPCError {
            let details: [UInt8] = (try? error.unpackGoogleRPCStatus()).map { try! $0.serializedBytes() } ?? []
            return .error(code: error.code, message: error.message, details: details)
        }
    }

    /// Writes covering every kind of answer: created, created again by request id, progressed (and
    /// after a cancel request), completed, cancelled, deleted; and each refusal the writer or the
    /// validation gives.
    static func writes(_ h: Harness) async throws -> [Answer] {
        let producers = h.producers, operations = h.operations
        let payload = any(Google_Protobuf_StringValue("step"))
        return [
            try await answer { try await producers.createOperation(.with { $0.operationID = "a"; $0.metadata = payload }) },
            try await answer { try await producers.createOperation(.with { $0.operationID = "a" }) },
            try await answer { try await producers.createOperation(.with { $0.parent = "Not A Parent"; $0.operationID = "b" }) },
            try await answer { try await producers.createOperation(.with { $0.operationID = "c"; $0.requestID = "r1" }) },
            try await answer { try await producers.createOperation(.with { $0.operationID = "c2"; $0.requestID = "r1" }) },
            try await answer { try await producers.updateOperation(.with { $0.name = "operations/a"; $0.metadata = payload }) },
            try await answer { try await producers.updateOperation(.with { $0.name = "operations/a"; $0.expectedVersion = 99 }) },
            try await answer { try await producers.updateOperation(.with { $0.name = "operations/missing" }) },
            try await answer { try await producers.updateOperation(.with { $0.name = "not a name" }) },
            try await answer { try await producers.completeOperation(.with { $0.name = "operations/a" }) },
            try await answer { try await producers.completeOperation(.with { $0.name = "operations/a"; $0.response = payload }) },
            try await answer { try await producers.completeOperation(.with { $0.name = "operations/a"; $0.response = payload }) },
            try await answer { try await producers.completeOperation(.with { $0.name = "operations/c"; $0.error = .with { $0.code = 9; $0.message = "no disk" } }) },
            try await answer { try await producers.createOperation(.with { $0.operationID = "d" }) },
            try await answer { try await operations.cancelOperation(.with { $0.name = "operations/d" }) },
            // Cancellation requested: the answer says so.
            try await answer { try await producers.updateOperation(.with { $0.name = "operations/d"; $0.metadata = payload }) },
            try await answer { try await operations.cancelOperation(.with { $0.name = "operations/missing" }) },
            try await answer { try await operations.cancelOperation(.with { $0.name = "not a name" }) },
            try await answer { try await operations.deleteOperation(.with { $0.name = "operations/a" }) },
            try await answer { try await operations.deleteOperation(.with { $0.name = "operations/a" }) },
            try await answer { try await operations.deleteOperation(.with { $0.name = "operations/d" }) },
            try await answer { try await producers.updateOperation(.with { $0.name = "operations/d" }) },
        ]
    }

    @Test func writesAnswerTheSameFromTheWriterAsThroughGRPCSwift() async throws {
        let slow = try await Harness.with(server: { $0.answersOnEventLoop = false }) { h in
            let answers = try await Self.writes(h)
            #expect(h.server.callsAnsweredOnEventLoop == 0)
            return answers
        }
        let fast = try await Harness.with { h in
            let answers = try await Self.writes(h)
            #expect(h.server.callsAnsweredOnEventLoop == answers.count)
            return answers
        }
        #expect(fast == slow)
        // Every kind of answer was exercised.
        let codes = Set(slow.compactMap { answer -> RPCError.Code? in if case .error(let code, _, _) = answer { code } else { nil } })
        #expect(codes.isSuperset(of: [.alreadyExists, .invalidArgument, .notFound, .failedPrecondition]))
        #expect(slow.filter { if case .operation = $0 { true } else { false } }.count >= 5)
    }

    /// WaitOperations covering every kind of answer that does not depend on timing: done at once
    /// (succeeded, failed), over at the timeout (running), deleted, unknown, malformed, a timeout
    /// that is not a duration.
    static func waits(_ h: Harness, names: [String]) async throws -> [Answer] {
        let operations = h.operations
        var answers: [Answer] = []
        for name in names {
            answers.append(try await answer { try await operations.waitOperation(.with { $0.name = name; $0.timeout = .init(seconds: 0, nanos: 50_000_000) }) })
        }
        answers.append(try await answer { try await operations.waitOperation(.with { $0.name = names[0]; $0.timeout = .init(seconds: -1) }) })
        return answers
    }

    @Test func waitOperationAnswersTheSameOnTheEventLoopAsThroughGRPCSwift() async throws {
        let directory = TemporaryDirectory(prefix: "longrun-fastpath-wait")
        defer { directory.remove() }
        let (names, slow) = try await Harness.with(reusing: directory, server: { $0.answersOnEventLoop = false }) { h in
            let names = try await Self.createEveryKind(h)
            let answers = try await Self.waits(h, names: names)
            #expect(h.server.callsAnsweredOnEventLoop == 0)
            return (names, answers)
        }
        let fast = try await Harness.with(reusing: directory) { h in
            let answers = try await Self.waits(h, names: names)
            #expect(h.server.callsAnsweredOnEventLoop == answers.count)
            #expect(h.engine.waiterCount == 0)
            #expect(h.server.quotas.totalOpen(.wait) == 0)
            return answers
        }
        #expect(fast == slow)
        let codes = Set(slow.compactMap { answer -> RPCError.Code? in if case .error(let code, _, _) = answer { code } else { nil } })
        #expect(codes == Set<RPCError.Code>([.notFound, .invalidArgument]))
        #expect(slow.filter { if case .operation = $0 { true } else { false } }.count == 3)
    }

    @Test func aWaitOnTheEventLoopEndsWithItsOperation() async throws {
        try await Harness.with { h in
            let operations = h.operations
            // Completed while it waits: the done operation.
            let completed = try await h.create(id: "completed")
            let waitForCompletion = Task { try await operations.waitOperation(.with { $0.name = completed.name; $0.timeout = .init(seconds: 30) }) }
            try await Self.until { h.engine.waiterCount == 1 }
            _ = try await h.producers.updateOperation(.with { $0.name = completed.name; $0.metadata = any(Google_Protobuf_StringValue("half")) })
            _ = try await h.complete(completed.name, response: any(Google_Protobuf_StringValue("built")))
            let done = try await waitForCompletion.value
            #expect(done.done)
            #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "built")
            // A cancellation request wakes it and it waits on; the producer's CANCELLED ends it.
            let cancelled = try await h.create(id: "cancelled")
            let waitForCancellation = Task { try await operations.waitOperation(.with { $0.name = cancelled.name; $0.timeout = .init(seconds: 30) }) }
            try await Self.until { h.engine.waiterCount == 1 }
            _ = try await operations.cancelOperation(.with { $0.name = cancelled.name })
            try await Task.sleep(for: .milliseconds(20))
            try await Self.until { h.engine.waiterCount == 1 }
            _ = try await h.producers.completeOperation(.with { $0.name = cancelled.name; $0.error = .with { $0.code = 1; $0.message = "stopped" } })
            #expect(try await waitForCancellation.value.error.code == 1)
            // Deleted while it waits: NOT_FOUND, as grpc-swift's path answers.
            let deleted = try await h.create(id: "deleted")
            let waitForDeletion = Task { try await operations.waitOperation(.with { $0.name = deleted.name; $0.timeout = .init(seconds: 30) }) }
            try await Self.until { h.engine.waiterCount == 1 }
            _ = try await operations.deleteOperation(.with { $0.name = deleted.name })
            await expectRPCError(.notFound) { _ = try await waitForDeletion.value }
            #expect(h.engine.waiterCount == 0)
            #expect(h.server.quotas.totalOpen(.wait) == 0)
            #expect(h.server.callsAnsweredOnEventLoop >= 4)
        }
    }

    @Test func aWaitWhoseClientGoesAwayLeavesNothingBehind() async throws {
        try await Harness.with(server: { $0.maximumWaitsPerPeer = 1 }) { h in
            let operations = h.operations
            let op = try await h.create(id: "long")
            let abandoned = Task { try await operations.waitOperation(.with { $0.name = op.name; $0.timeout = .init(seconds: 300) }) }
            try await Self.until { h.engine.waiterCount == 1 }
            #expect(h.server.quotas.totalOpen(.wait) == 1)
            abandoned.cancel()  // the client resets the stream
            await #expect(throws: (any Error).self) { try await abandoned.value }
            try await Self.until { h.engine.waiterCount == 0 && h.server.quotas.totalOpen(.wait) == 0 }
            // The uid's one slot is free again, and the operation's commits wake no one.
            _ = try await h.complete(op.name, response: any(Google_Protobuf_Empty()))
            #expect(try await operations.waitOperation(.with { $0.name = op.name; $0.timeout = .init(seconds: 1) }).done)
        }
    }

    @Test func aWaitOnTheEventLoopEndsUnavailableWhenTheEngineCloses() async throws {
        try await Harness.with { h in
            let operations = h.operations
            let op = try await h.create(id: "long")
            let waiting = Task { try await operations.waitOperation(.with { $0.name = op.name; $0.timeout = .init(seconds: 300) }) }
            try await Self.until { h.engine.waiterCount == 1 }
            h.engine.close()
            await expectRPCError(.unavailable, reason: "SHUTTING_DOWN") { _ = try await waiting.value }
            #expect(h.server.quotas.totalOpen(.wait) == 0)
        }
    }

    /// Polls `condition` every 5 ms for up to 10 s; fails the test if it never holds.
    static func until(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<2000 where !condition() { try await Task.sleep(for: .milliseconds(5)) }
        #expect(condition(), sourceLocation: sourceLocation)
    }

    @Test func aRequestOverTheSizeLimitIsRefusedUnread() async throws {
        try await Harness.with(server: { $0.maximumRequestBytes = 64 }) { h in
            await expectRPCError(.resourceExhausted) {
                _ = try await h.operations.getOperation(.with { $0.name = "operations/" + String(repeating: "a", count: 100) })
            }
            _ = try await h.create(id: "small")
            #expect(try await h.operations.getOperation(.with { $0.name = "operations/small" }).name == "operations/small")
        }
    }
}
