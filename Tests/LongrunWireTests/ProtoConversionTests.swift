import Foundation
import LongrunDomain
import LongrunProto
import LongrunWire
import SwiftProtobuf
import Testing

private let name = try! OperationName(parsing: "tenants/acme/operations/build-7")
private let payload = Payload(typeURL: "type.googleapis.com/acme.v1.BuildMetadata", value: [0x08, 0x2A, 0x00, 0xFF])
private let worker = Actor(uid: 1000, pid: 4242, label: "worker-7", host: "build-3")

/// An event of `kind` at sequence 3.
private func event(_ kind: Event.Kind) -> Event {
    Event(sequence: 3, time: Timestamp(seconds: 1_800_000_000, nanos: 5), name: name, actor: worker, kind: kind)
}

@Suite("Payloads, statuses and times on the wire")
struct PayloadConversionTests {
    @Test(arguments: [payload, Payload(typeURL: "", value: []), Payload(typeURL: "x", value: Array(repeating: 0xAB, count: 300))])
    func payloadsRoundTripThroughAny(_ payload: Payload) {
        let any = payload.proto
        #expect(any.typeURL == payload.typeURL)
        #expect([UInt8](any.value) == payload.value)
        #expect(Payload(any) == payload)
    }

    @Test func statusesKeepCodeMessageAndDetailsInOrder() {
        let status = Status(code: 5, message: "no such build: ünï", details: [payload, Payload(typeURL: "type.googleapis.com/b", value: [1])])
        let proto = status.proto
        #expect(proto.code == 5 && proto.message == "no such build: ünï")
        #expect(proto.details.map(\.typeURL) == [payload.typeURL, "type.googleapis.com/b"])
        #expect(Status(proto) == status)
    }

    @Test(arguments: [Int64(0), -1, 1_800_000_000_123_456_789, -1_500_000_001, .max])
    func timestampsKeepSecondsAndNanos(_ nanoseconds: Int64) {
        let proto = Timestamp(nanosecondsSinceEpoch: nanoseconds).proto
        // protobuf's Timestamp has non-negative nanos: a time before 1970 borrows a second.
        #expect((0..<1_000_000_000).contains(proto.nanos))
        #expect(Timestamp(seconds: proto.seconds, nanos: proto.nanos).nanosecondsSinceEpoch == nanoseconds)
    }
}

extension PayloadConversionTests {
    @Test func aTimeBefore1970BorrowsASecond() {
        let proto = Timestamp(nanosecondsSinceEpoch: -1_500_000_001).proto
        #expect(proto.seconds == -2 && proto.nanos == 499_999_999)
    }
}

@Suite("Durations on the wire")
struct DurationConversionTests {
    @Test(arguments: [Duration.zero, .nanoseconds(1), .milliseconds(1500), .seconds(86_400), .nanoseconds(Int64.max)])
    func nonNegativeDurationsRoundTrip(_ duration: Duration) {
        #expect(Duration(validating: duration.proto) == duration)
    }

    /// protobuf allows 10,000 years; the store keeps whole nanoseconds in an Int64 (about 292
    /// years), so what goes back out saturates there, as the stored value does.
    @Test func theLongestProtobufDurationIsAcceptedAndSaturatesOnTheWayOut() {
        let longest = Duration(validating: Google_Protobuf_Duration(seconds: 315_576_000_000, nanos: 0))
        #expect(longest == .seconds(315_576_000_000))
        #expect(longest?.proto == Duration.nanoseconds(Int64.max).proto)
    }

    @Test(arguments: [
        Google_Protobuf_Duration(seconds: -1, nanos: 0), Google_Protobuf_Duration(seconds: 0, nanos: -1),
        Google_Protobuf_Duration(seconds: 1, nanos: 1_000_000_000), Google_Protobuf_Duration(seconds: 315_576_000_001, nanos: 0),
    ])
    func negativeOrMalformedDurationsAreRefused(_ proto: Google_Protobuf_Duration) {
        #expect(Duration(validating: proto) == nil)
    }

    @Test func aLeaseTTLIsOptionalButNeverNegative() throws {
        #expect(try Duration.leaseTTL(nil) == nil)
        #expect(try Duration.leaseTTL(Google_Protobuf_Duration(seconds: 30, nanos: 0)) == .seconds(30))
        let error = #expect(throws: DomainError.self) { try Duration.leaseTTL(Google_Protobuf_Duration(seconds: -30, nanos: 0)) }
        #expect(error?.kind == .invalidArgument && error?.reason == .invalidLease)
    }
}

@Suite("Cancellation options on the wire")
struct CancellationConversionTests {
    @Test(arguments: [CancellationPolicy.immediate, .cooperative(grace: nil), .cooperative(grace: .seconds(30)), .cooperative(grace: .zero)])
    func policiesRoundTrip(_ policy: CancellationPolicy) throws {
        #expect(try CancellationPolicy(validating: policy.proto) == policy)
    }

    @Test func absentOrUnspecifiedOptionsAreTheDefault() throws {
        #expect(try CancellationPolicy(validating: nil) == .default)
        #expect(try CancellationPolicy(validating: Longrun_V1_CancellationOptions()) == .cooperative(grace: nil))
    }

    @Test func invalidOptionsAreRefusedWithTheirReasons() {
        var immediateWithGrace = Longrun_V1_CancellationOptions()
        immediateWithGrace.mode = .immediate
        immediateWithGrace.grace = Google_Protobuf_Duration(seconds: 5, nanos: 0)
        var negativeGrace = Longrun_V1_CancellationOptions()
        negativeGrace.mode = .cooperative
        negativeGrace.grace = Google_Protobuf_Duration(seconds: -5, nanos: 0)
        var unknownMode = Longrun_V1_CancellationOptions()
        unknownMode.mode = .UNRECOGNIZED(9)
        for (options, reason) in [(immediateWithGrace, DomainError.Reason.invalidCancellation), (negativeGrace, .invalidCancelGrace),
                                  (unknownMode, .invalidCancellation)] {
            let error = #expect(throws: DomainError.self) { try CancellationPolicy(validating: options) }
            #expect(error?.kind == .invalidArgument && error?.reason == reason)
        }
    }
}

@Suite("Operations and events on the wire")
struct OperationConversionTests {
    private func created(_ created: Event.Created = Event.Created(metadata: payload)) -> OperationState {
        Lifecycle.apply(nil, Event(sequence: 1, time: Timestamp(seconds: 1_800_000_000), name: name, actor: worker, kind: .created(created)))!
    }

    @Test func aRunningOperationHasNeitherResponseNorError() {
        let operation = created().proto
        #expect(operation.name == "tenants/acme/operations/build-7")
        #expect(!operation.done && operation.result == nil)
        #expect(Payload(operation.metadata) == payload)
    }

    @Test func aDoneOperationHasExactlyItsOutcome() {
        let response = Payload(typeURL: "type.googleapis.com/acme.v1.BuildResult", value: [1, 2])
        let succeeded = Lifecycle.apply(created(), event(.completed(.response(response))))!.proto
        #expect(succeeded.done && succeeded.response == response.proto)
        let status = Status(code: 13, message: "linker crashed")
        let failed = Lifecycle.apply(created(), event(.completed(.error(status))))!.proto
        #expect(failed.done && failed.error == status.proto)
    }

    @Test func detailsCarryWhatTheOperationDoesNot() {
        let leased = created(Event.Created(requestID: "r-1", cancellation: .immediate, leaseTTL: .seconds(30)))
        let details = leased.detailsProto
        #expect(details.operation == leased.proto)
        #expect(details.version == leased.version && details.lastSequence == 1)
        #expect(details.createTime == Timestamp(seconds: 1_800_000_000).proto && details.updateTime == details.createTime)
        #expect(!details.hasEndTime && !details.cancelRequested && !details.held)
        #expect(details.creator == worker.proto && details.requestID == "r-1")
        #expect(details.cancellation.mode == .immediate)
        #expect(details.lease.ttl == Duration.seconds(30).proto && details.lease.holder == worker.proto)
    }

    @Test func actorsKeepWhatTheyKnow() {
        let proto = worker.proto
        #expect(proto.uid == 1000 && proto.pid == 4242 && proto.label == "worker-7" && proto.host == "build-3")
        let bare = Actor.engine.proto
        #expect(!bare.hasUid && !bare.hasPid && bare.label == "longrun-engine" && bare.host.isEmpty)
    }

    static let kinds: [Event.Kind] = [
        .created(Event.Created(metadata: payload, requestID: "r", cancellation: .cooperative(grace: .seconds(5)), leaseTTL: .seconds(60))),
        .progressed(metadata: payload), .progressed(metadata: nil), .cancelRequested(reason: "user", graceDeadline: Timestamp(seconds: 9)),
        .cancelRequested(reason: "", graceDeadline: nil), .completed(.response(payload)), .completed(.error(Status(code: 1, message: "c"))),
        .deleted, .expired, .holdSet(reason: "audit"), .holdReleased(reason: "done"), .repaired(detail: "index entry"),
        .leaseRenewed, .adopted(leaseTTL: .seconds(10)), .adopted(leaseTTL: nil),
    ]

    /// The label a tool prints for an event read off the wire is the one the engine logs.
    @Test(arguments: kinds)
    func everyEventKindKeepsItsTagOnTheWire(_ kind: Event.Kind) {
        let proto = event(kind).proto(state: nil)
        #expect(proto.sequence == 3 && proto.name == name.description && proto.actor == worker.proto)
        #expect(proto.time == Timestamp(seconds: 1_800_000_000, nanos: 5).proto)
        #expect(Event.Kind.Tag(proto.kind) == kind.tag)
        #expect(Event.Kind.Tag(proto.kind)?.rawValue == kind.label)
        #expect(!proto.hasOperation)
    }

    @Test func eventKindsCarryTheirValues() {
        let created = event(OperationConversionTests.kinds[0]).proto(state: nil).created
        #expect(created.metadata == payload.proto && created.requestID == "r")
        #expect(created.cancellation.grace == Duration.seconds(5).proto && created.lease == Duration.seconds(60).proto)
        let cancel = event(.cancelRequested(reason: "user", graceDeadline: Timestamp(seconds: 9))).proto(state: nil).cancelRequested
        #expect(cancel.reason == "user" && cancel.graceDeadline == Timestamp(seconds: 9).proto)
        #expect(!event(.progressed(metadata: nil)).proto(state: nil).progressed.hasMetadata)
        #expect(!event(.adopted(leaseTTL: nil)).proto(state: nil).adopted.hasLease)
        #expect(event(.repaired(detail: "index entry")).proto(state: nil).repaired.detail == "index entry")
    }

    @Test func anEventCarriesTheStateItIsGiven() {
        let state = created()
        #expect(event(.leaseRenewed).proto(state: state).operation == state.proto)
    }

    @Test func anEventWithoutAKindHasNoTag() {
        #expect(Event.Kind.Tag(Longrun_V1_OperationEvent().kind) == nil)
    }

    @Test func everyTagIsALowercaseWordOfItsOwn() {
        let labels = Event.Kind.Tag.allCases.map(\.rawValue)
        #expect(Set(labels).count == labels.count)
        #expect(labels.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }
}
