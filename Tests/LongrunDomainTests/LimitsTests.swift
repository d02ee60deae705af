@testable import LongrunDomain
import Testing

/// The documented maximums (docs/API.md#limits) hold for every command that carries a payload.
@Suite("Limits")
struct LimitsTests {
    static let name = try! OperationName(parsing: "operations/big")
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let actor = Actor(uid: 1000, pid: 1)
    static var running: OperationState {
        Lifecycle.apply(nil, Event(sequence: 1, time: t0, name: name, actor: actor, kind: .created(.init())))!
    }

    static func payload(bytes: Int, typeURLBytes: Int = 30) -> Payload {
        Payload(typeURL: "type.googleapis.com/" + String(repeating: "x", count: max(0, typeURLBytes - 20)), value: [UInt8](repeating: 1, count: bytes))
    }

    func decide(_ command: Command, state: OperationState?) throws(DomainError) -> [Event.Draft] {
        try Lifecycle.decide(command, state: state, context: .init(now: Self.t0, actor: Self.actor, defaultCancelGrace: .seconds(30))).events
    }

    func expectTooLarge(_ command: Command, state: OperationState?, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try decide(command, state: state)
            Issue.record("expected PAYLOAD_TOO_LARGE", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == .invalidArgument, sourceLocation: sourceLocation)
            #expect(error.reason == .payloadTooLarge, sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func payloadsUpToTheMaximumAreAcceptedAndOneByteMoreIsNot() throws {
        let max = Limits.maximumPayloadBytes
        #expect(try decide(.create(.init(name: Self.name, metadata: Self.payload(bytes: max))), state: nil).count == 1)
        expectTooLarge(.create(.init(name: Self.name, metadata: Self.payload(bytes: max + 1))), state: nil, mentioning: "metadata")
        expectTooLarge(.progress(.init(name: Self.name, metadata: Self.payload(bytes: max + 1))), state: Self.running, mentioning: "metadata")
        expectTooLarge(.complete(name: Self.name, outcome: .response(Self.payload(bytes: max + 1))), state: Self.running, mentioning: "response")
        expectTooLarge(.create(.init(name: Self.name, metadata: Self.payload(bytes: 1, typeURLBytes: Limits.maximumTypeURLBytes + 1))),
                       state: nil, mentioning: "type URL")
    }

    @Test func anErrorCountsItsMessageAndDetailsTogether() throws {
        let half = Limits.maximumPayloadBytes / 2
        let fits = Status(code: 2, message: String(repeating: "m", count: 100), details: [Self.payload(bytes: half)])
        #expect(try decide(.complete(name: Self.name, outcome: .error(fits)), state: Self.running).count == 1)
        let over = Status(code: 2, message: String(repeating: "m", count: half), details: [Self.payload(bytes: half)])
        expectTooLarge(.complete(name: Self.name, outcome: .error(over)), state: Self.running, mentioning: "error")
    }

    @Test func reasonsAreBounded() {
        let long = String(repeating: "r", count: Limits.maximumReasonBytes + 1)
        expectTooLarge(.cancel(name: Self.name, reason: long), state: Self.running, mentioning: "reason")
        expectTooLarge(.hold(name: Self.name, reason: long), state: Self.running, mentioning: "reason")
    }
}
