import GRPCCore
import GRPCProtobuf
import LongrunProto
import LongrunServer
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
        let (names, slow) = try await Harness.with(reusing: directory, server: { $0.answersReadsOnEventLoop = false; $0.maximumRequestBytes = limit }) { h in
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
            let names = Self.names(created: [running.name, succeeded.name, failed.name, deleted.name])
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
