import GRPCCore
import GRPCProtobuf
@testable import LongrunClient
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

@Suite("RPC errors")
struct ErrorMappingTests {
    @Test func errorInfoIsReadFromTheStatusDetails() {
        // What a server using GRPCProtobuf's detailed errors sends.
        let status = GoogleRPCStatus(
            code: .notFound,
            message: "operation operations/x does not exist",
            details: [.errorInfo(reason: "OPERATION_NOT_FOUND", domain: "longrun.dev", metadata: ["name": "operations/x"])]
        )
        let error = LongrunClientError(RPCError(status))
        #expect(error.code == .notFound)
        #expect(error.message == "operation operations/x does not exist")
        #expect(error.reason == "OPERATION_NOT_FOUND")
        #expect(error.errorInfo?.domain == "longrun.dev")
        #expect(error.errorInfo?.metadata == ["name": "operations/x"])
        #expect(error.details.count == 1)
        #expect(error.description == "NOT_FOUND: operation operations/x does not exist (OPERATION_NOT_FOUND)")
    }

    @Test func otherDetailsAreKeptAndSkippedForTheReason() throws {
        let debug = try Google_Protobuf_Any(message: Google_Rpc_DebugInfo.with { $0.detail = "stack" })
        let info = try Google_Protobuf_Any(message: Google_Rpc_ErrorInfo.with { $0.reason = "VERSION_MISMATCH" })
        let trailer = Google_Rpc_Status.with {
            $0.code = 10
            $0.message = "expected version 3, found 4"
            $0.details = [debug, unknownAny, info]
        }
        var metadata = Metadata()
        metadata.addBinary(try trailer.serializedBytes(), forKey: "grpc-status-details-bin")
        let error = LongrunClientError(RPCError(code: .aborted, message: "expected version 3, found 4", metadata: metadata))
        #expect(error.code == .aborted)
        #expect(error.reason == "VERSION_MISMATCH")
        // (Anys compare equal only in the same state: compare the encodings.)
        #expect(try error.details.map { try $0.serializedBytes() as [UInt8] } == [debug, unknownAny, info].map { try $0.serializedBytes() as [UInt8] })
        #expect(try error.status.serializedBytes() as [UInt8] == trailer.serializedBytes())
        #expect("\(error)" == "ABORTED: expected version 3, found 4 (VERSION_MISMATCH)")
    }

    @Test func withoutDetailsThereIsNoReason() {
        let error = LongrunClientError(RPCError(code: .unavailable, message: "server is shutting down"))
        #expect(error.code == .unavailable)
        #expect(error.errorInfo == nil)
        #expect(error.reason == nil)
        #expect(error.details.isEmpty)
        #expect(error.description == "UNAVAILABLE: server is shutting down")
    }

    @Test func undecodableDetailsAreIgnored() {
        var metadata = Metadata()
        metadata.addBinary([0xff, 0xff, 0xff], forKey: "grpc-status-details-bin")
        let error = LongrunClientError(RPCError(code: .internalError, message: "", metadata: metadata))
        #expect(error.code == StatusCode.internal)
        #expect(error.errorInfo == nil)
        #expect(error.description == "INTERNAL: (no message)")
    }

    @Test func theTrailerFillsAnEmptyMessage() throws {
        var metadata = Metadata()
        metadata.addBinary(try Google_Rpc_Status.with { $0.code = 3; $0.message = "bad filter" }.serializedBytes(), forKey: "grpc-status-details-bin")
        #expect(LongrunClientError(RPCError(code: .invalidArgument, message: "", metadata: metadata)).message == "bad filter")
    }

    @Test func onlyRPCErrorsAreMapped() {
        #expect(LongrunClientError.mapping(RPCError(code: .aborted, message: "x")) as? LongrunClientError == LongrunClientError(code: .aborted, message: "x"))
        #expect(LongrunClientError.mapping(CancellationError()) is CancellationError)
    }

    @Test func operationErrorsDescribeThemselves() throws {
        let info = try Google_Protobuf_Any(message: Google_Rpc_ErrorInfo.with { $0.reason = "DISK_FULL" })
        let failed = OperationError.failed(name: "operations/x", status: status(.resourceExhausted, "disk full", details: [info]))
        #expect(failed.description == "operation operations/x failed: RESOURCE_EXHAUSTED: disk full (DISK_FULL)")
        #expect(failed.code == .resourceExhausted)
        #expect(failed.errorInfo?.reason == "DISK_FULL")
        #expect(OperationError.cancelled(name: "operations/x", status: status(.cancelled, "")).description == "operation operations/x was cancelled")
        #expect(OperationError.notDone(name: "operations/x").status == nil)
    }
}
