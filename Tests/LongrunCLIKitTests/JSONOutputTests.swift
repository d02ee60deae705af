import Foundation
@testable import LongrunCLIKit
import LongrunDomain
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

@Suite("JSON output")
struct JSONOutputTests {
    @Test func knownTypesUseTheJSONMapping() throws {
        let op = operation("operations/x", done: true, metadata: try structAny(["percent": .init(numberValue: 42)]),
                           response: try Google_Protobuf_Any(message: Google_Protobuf_StringValue("built")))
        let object = try jsonObject(JSONOutput.line(op))
        #expect(object["name"] as? String == "operations/x")
        #expect(object["done"] as? Bool == true)
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["@type"] as? String == "type.googleapis.com/google.protobuf.Struct")
        #expect((metadata["value"] as? [String: Any])?["percent"] as? Double == 42)
        let response = try #require(object["response"] as? [String: Any])
        #expect(response["value"] as? String == "built")
    }

    @Test func unknownAnyTypesPrintTheirBytes() throws {
        let line = JSONOutput.line(operation("operations/x", metadata: unknownAny))
        #expect(!line.contains("\n"))
        let object = try jsonObject(line)
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["@type"] as? String == "type.googleapis.com/acme.v1.BuildMetadata")
        #expect(metadata["value"] as? String == "CCr/")
        #expect(metadata.count == 2)
    }

    @Test func unknownAnysInsideErrorsAndEvents() throws {
        let info = try Google_Protobuf_Any(message: Google_Rpc_ErrorInfo.with { $0.reason = "R" })
        let failed = operation("operations/x", done: true, metadata: unknownAny, error: status(.internal, "boom", details: [unknownAny, info]))
        let object = try jsonObject(JSONOutput.line(failed))
        let details = try #require((object["error"] as? [String: Any])?["details"] as? [[String: Any]])
        #expect(details.count == 2)
        #expect(details[0]["value"] as? String == "CCr/")
        #expect(details[1]["reason"] as? String == "R")

        var event = Longrun_V1_OperationEvent()
        event.sequence = 3
        event.name = "operations/x"
        event.progressed = .with { $0.metadata = unknownAny; $0.version = 2 }
        event.operation = failed
        let eventObject = try jsonObject(JSONOutput.line(event))
        #expect(eventObject["sequence"] as? Int == 3)
        let progressed = try #require(eventObject["progressed"] as? [String: Any])
        #expect((progressed["metadata"] as? [String: Any])?["@type"] as? String == "type.googleapis.com/acme.v1.BuildMetadata")
        #expect(((eventObject["operation"] as? [String: Any])?["metadata"] as? [String: Any])?["value"] as? String == "CCr/")
    }

    @Test func registeredAnysDecodedBackRoundTrip() throws {
        LongrunTypes.registerAll()
        let info = Google_Rpc_ErrorInfo.with { $0.reason = "R"; $0.domain = "d" }
        let op = operation("operations/x", done: true, error: status(.internal, "boom", details: [try Google_Protobuf_Any(message: info)]))
        let decoded = try Google_Longrunning_Operation(jsonString: JSONOutput.line(op))
        // (Anys compare equal only in the same state: compare the encodings.)
        #expect(try decoded.serializedBytes() as [UInt8] == op.serializedBytes())
        #expect(try Google_Rpc_ErrorInfo(unpackingAny: decoded.error.details[0]) == info)
    }

    @Test func updateResponses() throws {
        let response = Longrun_V1_UpdateOperationResponse.with {
            $0.operation = operation("operations/x", metadata: unknownAny)
            $0.version = 4
            $0.cancelRequested = true
        }
        let object = try jsonObject(JSONOutput.line(response))
        #expect(object["version"] as? Int == 4)
        #expect(object["cancelRequested"] as? Bool == true)
    }

    @Test func quoting() {
        #expect(JSONOutput.quote("a\"b\\c\n\u{1}é") == "\"a\\\"b\\\\c\\n\\u0001é\"")
    }

    @Test func theJSONIsTheDetailsMessage() throws {
        var details = DetailsOutputTests.pending
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
        let decoded = try Longrun_V1_OperationDetails(jsonString: JSONOutput.line(DetailsOutputTests.pending))
        #expect(try decoded.serializedBytes() as [UInt8] == DetailsOutputTests.pending.serializedBytes())
    }
}
