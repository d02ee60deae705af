import LongrunDomain
import LongrunProto
import LongrunTestSupport
import LongrunWire
import SwiftProtobuf
import Testing

/// The answers written on the event loop are the bytes SwiftProtobuf writes for the same
/// messages: a client decodes one exactly as the other, whatever a state holds.
@Suite("Operations written without SwiftProtobuf")
struct OperationBytesTests {
    /// A payload of 0 to 300 bytes (lengths over 127 take two bytes), its type URL sometimes empty.
    static func payload(_ random: inout SplitMix64) -> Payload {
        let typeURL = Int.random(in: 0..<5, using: &random) == 0 ? "" : "type.googleapis.com/acme.v\(random.next() % 9).Build"
        let count = [0, 1, 6, 127, 128, 300][Int.random(in: 0..<6, using: &random)]
        return Payload(typeURL: typeURL, value: (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) })
    }

    /// A state with or without metadata, running or done with a response or an error (any code,
    /// negative ones too, an empty or non-ASCII message, details), the rest of it arbitrary.
    static func state(_ random: inout SplitMix64) throws -> OperationState {
        let parent = Int.random(in: 0..<3, using: &random) == 0 ? "" : "tenants/t\(random.next() % 100)/"
        let name = try OperationName(parsing: "\(parent)operations/op-\(random.next() % 1_000_000)")
        let outcome: Outcome? = switch Int.random(in: 0..<3, using: &random) {
        case 0: nil
        case 1: .response(payload(&random))
        default: .error(Status(code: Int32.random(in: -3...20, using: &random),
                               message: ["", "build failed", "échec: ✗"][Int.random(in: 0..<3, using: &random)],
                               details: (0..<Int.random(in: 0...2, using: &random)).map { _ in payload(&random) }))
        }
        let time = Timestamp(nanosecondsSinceEpoch: Int64.random(in: 0...1_900_000_000_000_000_000, using: &random))
        return OperationState(
            name: name, metadata: Bool.random(using: &random) ? payload(&random) : nil, outcome: outcome,
            createTime: time, updateTime: time, endTime: outcome == nil ? nil : time, creator: Actor(uid: 1000, label: "producer"),
            requestID: nil, cancellation: .default,
            cancelRequest: Bool.random(using: &random) ? nil : .init(actor: Actor(uid: 0, label: "admin"), time: time, reason: "", graceDeadline: nil),
            deletion: nil,
            version: random.next() % 10, createSequence: random.next() % 1000, lastSequence: random.next() % 1000)
    }

    @Test func anOperationIsTheBytesSwiftProtobufWrites() throws {
        try FuzzRun.run(0x0B17E5) { random in
            let state = try Self.state(&random)
            let expected: [UInt8] = try state.proto.serializedBytes()
            #expect(state.operationBytes == expected, "\(state.name), \(FuzzRun.reproduce)")
        }
    }

    @Test func anUpdateAnswerIsTheBytesSwiftProtobufWrites() throws {
        try FuzzRun.run(0x0BD47E) { random in
            let state = try Self.state(&random)
            var response = Longrun_V1_UpdateOperationResponse()
            response.operation = state.proto
            response.version = state.version
            response.cancelRequested = state.cancelRequest != nil
            let expected: [UInt8] = try response.serializedBytes()
            #expect(state.updateOperationResponseBytes == expected, "\(state.name), \(FuzzRun.reproduce)")
        }
    }

    @Test func aListPageIsTheBytesSwiftProtobufWrites() throws {
        var random = SplitMix64(seed: FuzzRun.seed ^ 0x11575)
        for count in [0, 1, 2, 100] {
            for token in ["", "CAESBgoEAQID"] {
                let states = try (0..<count).map { _ in try Self.state(&random) }
                var response = Google_Longrunning_ListOperationsResponse()
                response.operations = states.map(\.proto)
                response.nextPageToken = token
                let expected: [UInt8] = try response.serializedBytes()
                #expect(listOperationsResponseBytes(states, nextPageToken: token) == expected, "\(count) operations, token \(token.debugDescription)")
            }
        }
    }
}
