import Foundation
@testable import LongrunCLIKit
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

/// The one JSON convention of `longrun` and `longrun-replay` (docs/JSON.md): every field present,
/// lowerCamelCase keys, 64-bit integers as numbers, only the set member of a oneof.
@Suite("CLI: one JSON convention")
struct CompleteJSONTests {
    func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func aRunningOperationSaysDoneFalseAndHasNoResultMember() throws {
        let line = JSONOutput.line(Google_Longrunning_Operation.with { $0.name = "operations/build-7" })
        #expect(line == #"{"name":"operations/build-7","metadata":null,"done":false}"#)
    }

    @Test func aFailedOperationPrintsTheErrorWithEveryFieldAndNoResponse() throws {
        let operation = Google_Longrunning_Operation.with {
            $0.name = "operations/build-7"
            $0.done = true
            $0.error = .with { $0.code = 5 }
        }
        let json = try object(JSONOutput.line(operation))
        let error = try #require(json["error"] as? [String: Any])
        #expect(error["code"] as? Int == 5)
        #expect(error["message"] as? String == "")
        #expect((error["details"] as? [Any])?.isEmpty == true)
        #expect(json["response"] == nil)
    }

    @Test func sixtyFourBitIntegersAreNumbersAndZeroCountsArePresent() throws {
        let response = Longrun_V1_UpdateOperationResponse.with {
            $0.version = 3
            $0.operation = .with { $0.name = "operations/a" }
        }
        let json = try object(JSONOutput.line(response))
        #expect(json["version"] as? Int == 3)
        #expect(json["cancelRequested"] as? Bool == false)
        let operation = try #require(json["operation"] as? [String: Any])
        #expect(operation["done"] as? Bool == false)

        var event = Longrun_V1_OperationEvent()
        event.sequence = 9_007_199_254_740_000
        event.name = "operations/a"
        event.deleted = .init()
        let line = JSONOutput.line(event)
        #expect(line.contains(#""sequence":9007199254740000"#))
        let eventJSON = try object(line)
        #expect(eventJSON["deleted"] is [String: Any])
        #expect(eventJSON["created"] == nil, "only the oneof member that is set prints")
    }

    @Test func payloadsKeepTheirOwnJSON() throws {
        var operation = Google_Longrunning_Operation.with { $0.name = "operations/a" }
        operation.metadata = try Google_Protobuf_Any(message: Google_Protobuf_StringValue("linking"))
        let json = try object(JSONOutput.line(operation))
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(Set(metadata.keys) == ["@type", "value"])
        #expect(metadata["value"] as? String == "linking")
    }

    @Test func reportsGetEveryFieldTooNestedOnesIncluded() throws {
        // Reports printed with `line(plain:)` are completed from the descriptors as well.
        let info = try object(JSONOutput.line(plain: Longrun_V1_ServerInfo.with { $0.integrity = .init() }))
        #expect(info["appliedSequence"] as? Int == 0)
        #expect(info["dataDirectory"] as? String == "")
        let integrity = try #require(info["integrity"] as? [String: Any])
        #expect(integrity["lastPassStarted"] is NSNull)
        #expect(integrity["damagedReads"] as? Int == 0)
        #expect((integrity["findings"] as? [Any])?.isEmpty == true)
        #expect(integrity["passRunning"] as? Bool == false)
        #expect(try object(JSONOutput.line(plain: Longrun_V1_ServerInfo()))["integrity"] is NSNull)
    }

    @Test func keysAreInFieldNumberOrderAndTheOutputIsStable() {
        let operation = Google_Longrunning_Operation.with {
            $0.name = "operations/a"
            $0.done = true
            $0.response = Google_Protobuf_Any.with { $0.typeURL = "type.example/x.Unknown"; $0.value = Data([1, 2]) }
        }
        let first = JSONOutput.line(operation)
        #expect(first == JSONOutput.line(operation))
        #expect(first == #"{"name":"operations/a","metadata":null,"done":true,"response":{"@type":"type.example/x.Unknown","value":"AQI="}}"#)
    }
}
