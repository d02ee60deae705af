import Foundation
@testable import LongrunClient
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Resending metadata")
struct ResendMetadataTests {
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
