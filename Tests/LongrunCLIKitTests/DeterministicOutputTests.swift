import Foundation
@testable import LongrunCLIKit
import LongrunDomain
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

/// A Struct of many keys, nested Structs and a list of Structs, built with its keys inserted in
/// `order` into dictionaries of `capacity`: equal contents, different Dictionary iteration orders.
private func bigStruct(order: [String], capacity: Int) -> Google_Protobuf_Struct {
    func fields(_ keys: [String], depth: Int) -> [String: Google_Protobuf_Value] {
        var result = [String: Google_Protobuf_Value](minimumCapacity: capacity)
        for key in keys {
            if depth == 0 && key == "k07" {
                result[key] = Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: fields(keys, depth: 1)))
            } else if depth == 0 && key == "k13" {
                let element = Google_Protobuf_Struct(fields: fields(keys.reversed(), depth: 1))
                result[key] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [
                    Google_Protobuf_Value(structValue: element), Google_Protobuf_Value(numberValue: 1.5),
                ]))
            } else {
                result[key] = Google_Protobuf_Value(stringValue: "v-\(key)-\(depth)")
            }
        }
        return result
    }
    return Google_Protobuf_Struct(fields: fields(order, depth: 0))
}

private let keys = (0..<40).map { "k" + ($0 < 10 ? "0" : "") + String($0) }

/// The keys of the object in `field` of `json`, in the order printed (JSONSerialization would
/// lose the order). Enough for the test's own JSON: no braces or quotes inside strings.
private func keyOrder(_ json: String, field: String) throws -> [String] {
    let start = try #require(json.range(of: "\"\(field)\":{"))
    let characters = Array(json[start.upperBound...])
    var depth = 1
    var keys: [String] = []
    var index = 0
    while index < characters.count, depth > 0 {
        switch characters[index] {
        case "{", "[": depth += 1
        case "}", "]": depth -= 1
        case "\"":
            let close = try #require(characters[(index + 1)...].firstIndex(of: "\""))
            if depth == 1, close + 1 < characters.count, characters[close + 1] == ":" {
                keys.append(String(characters[(index + 1)..<close]))
            }
            index = close
        default: break
        }
        index += 1
    }
    return keys
}

@Suite("Deterministic output")
struct DeterministicOutputTests {
    let orders: [(order: [String], capacity: Int)] = [
        (keys, 0), (keys.reversed(), 0), (keys.shuffled(), 4096), (keys.shuffled(), 64),
    ]

    @Test func structPayloadsPrintTheSameBytesWhateverTheDictionaryOrder() throws {
        let lines = try orders.map { order, capacity in
            let metadata = try Google_Protobuf_Any(message: bigStruct(order: order, capacity: capacity))
            return JSONOutput.line(operation("operations/x", metadata: metadata))
        }
        #expect(Set(lines).count == 1, "\(lines)")
        let line = try #require(lines.first)
        #expect(try keyOrder(line, field: "metadata") == ["@type", "value"])
        #expect(try keyOrder(line, field: "value") == keys)
        #expect(line.contains("\"k07\":{\"k00\":\"v-k00-1\",\"k01\":\"v-k01-1\","))
        #expect(line.contains("\"k13\":[{\"k00\":\"v-k00-1\",\"k01\":\"v-k01-1\","))
        // Still the protobuf JSON mapping: it decodes to the same operation.
        let decoded = try Google_Longrunning_Operation(jsonString: line)
        #expect(try Google_Protobuf_Struct(unpackingAny: decoded.metadata) == bigStruct(order: keys, capacity: 0))
    }

    @Test func reDecodedOperationsPrintTheSameBytes() throws {
        let metadata = try Google_Protobuf_Any(message: bigStruct(order: keys.shuffled(), capacity: 0))
        var current = operation("operations/x", done: true, metadata: metadata, response: metadata)
        let first = JSONOutput.line(current)
        for _ in 0..<5 {
            current = try Google_Longrunning_Operation(serializedBytes: try current.serializedBytes() as [UInt8])
            #expect(JSONOutput.line(current) == first)
            current = try Google_Longrunning_Operation(jsonString: JSONOutput.line(current))
            #expect(JSONOutput.line(current) == first)
        }
    }

    @Test func eventsDetailsAndHumanOutputAreSortedToo() throws {
        let lines = try orders.map { order, capacity in
            let metadata = try Google_Protobuf_Any(message: bigStruct(order: order, capacity: capacity))
            let event = Longrun_V1_OperationEvent.with {
                $0.sequence = 7
                $0.operation = operation("operations/x", metadata: metadata)
                $0.progressed = Longrun_V1_OperationEvent.Progressed.with { $0.metadata = metadata }
            }
            let details = Longrun_V1_OperationDetails.with { $0.operation = operation("operations/x", metadata: metadata) }
            return [JSONOutput.line(event), JSONOutput.line(details), HumanOutput.describe(metadata)]
        }
        for index in 0..<3 { #expect(Set(lines.map { $0[index] }).count == 1) }
        let human = try #require(lines.first?[2])
        #expect(human.hasPrefix("google.protobuf.Struct {\"k00\":\"v-k00-0\",\"k01\":\"v-k01-0\",\"k02\""))
    }

    @Test func errorDetailsWithMapsPrintInKeyOrder() throws {
        let lines = try [keys, keys.reversed(), keys.shuffled()].map { order in
            var info = Google_Rpc_ErrorInfo()
            info.reason = "R"
            info.metadata = Dictionary(uniqueKeysWithValues: order.map { ($0, "x") })
            let failed = operation("operations/x", done: true, error: status(.internal, "boom", details: [try Google_Protobuf_Any(message: info)]))
            return JSONOutput.line(failed)
        }
        #expect(Set(lines).count == 1)
        let line = try #require(lines.first)
        #expect(line.contains("\"metadata\":{\"k00\":\"x\",\"k01\":\"x\",\"k02\":\"x\""))
    }
}
