import Foundation
@testable import LongrunCLIKit
import LongrunDomain
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

@Suite("Progress lines")
struct ProgressLineTests {
    let time = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 0) // 2026-01-01T00:00:00Z

    @Test func percentAndMessage() throws {
        let metadata = try structAny(["percent": .init(numberValue: 42), "message": .init(stringValue: "compiling")])
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: metadata), updated: time) == "operations/x  42%  compiling")
    }

    @Test func progressFieldAndFractions() throws {
        let metadata = try structAny(["progress": .init(numberValue: 42.54)])
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: metadata), updated: time) == "operations/x  42.5%")
        let whole = try structAny(["percent": .init(numberValue: 99.96)])
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: whole), updated: time) == "operations/x  100%")
    }

    @Test func messageOnly() throws {
        let metadata = try structAny(["message": .init(stringValue: "linking\nstage 2"), "percent": .init(stringValue: "n/a")])
        #expect(HumanOutput.progressLine(operation("tenants/a/operations/y", metadata: metadata), updated: time) == "tenants/a/operations/y  linking stage 2")
    }

    @Test func otherTypesShowTheirTypeAndTime() throws {
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: unknownAny), updated: time)
            == "operations/x  acme.v1.BuildMetadata  updated 2026-01-01T00:00:00Z")
        let plainStruct = try structAny(["step": .init(numberValue: 3)])
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: plainStruct), updated: time)
            == "operations/x  google.protobuf.Struct  updated 2026-01-01T00:00:00Z")
        let string = try Google_Protobuf_Any(message: Google_Protobuf_StringValue("x"))
        #expect(HumanOutput.progressLine(operation("operations/x", metadata: string), updated: nil) == "operations/x  google.protobuf.StringValue")
    }

    @Test func noMetadata() {
        #expect(HumanOutput.progressLine(operation("operations/x"), updated: time) == "operations/x  running  updated 2026-01-01T00:00:00Z")
    }
}

@Suite("Tables and blocks")
struct TableTests {
    @Test func columnsAlignAndTheLastIsNotPadded() {
        let text = HumanOutput.table(header: ["A", "LONGER", "C"], rows: [["xxxx", "y", "z"], ["1", "22", ""]])
        #expect(text == """
            A     LONGER  C
            xxxx  y       z
            1     22
            """)
    }

    @Test func theOperationsTable() throws {
        let ops = [
            operation("operations/running"),
            operation("operations/good", done: true, response: try Google_Protobuf_Any(message: Google_Protobuf_Empty())),
            operation("operations/bad", done: true, error: status(.internal, "boom")),
            operation("operations/stopped", done: true, error: status(.cancelled, "by user")),
        ]
        let updated = ["operations/good": Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 250_000_000)]
        #expect(HumanOutput.operationsTable(ops, updated: updated) == """
            NAME                DONE  RESULT          UPDATED
            operations/running  no    -               -
            operations/good     yes   ok              2026-01-01T00:00:00.250Z
            operations/bad      yes   ERROR INTERNAL  -
            operations/stopped  yes   cancelled       -
            """)
    }

    @Test func theGetBlock() throws {
        let info = try Google_Protobuf_Any(message: Google_Rpc_ErrorInfo.with { $0.reason = "DISK_FULL" })
        let op = operation("operations/x", done: true, metadata: try structAny(["percent": .init(numberValue: 100)]),
                           error: status(.resourceExhausted, "no space", details: [info, unknownAny]))
        #expect(HumanOutput.operationBlock(op) == """
            name:     operations/x
            done:     yes
            metadata: google.protobuf.Struct {"percent":100.0}
            result:   ERROR RESOURCE_EXHAUSTED
            error:    RESOURCE_EXHAUSTED (8): no space (DISK_FULL)
            detail:   google.rpc.ErrorInfo {"reason":"DISK_FULL"}
            detail:   acme.v1.BuildMetadata (3 bytes)
            """)
    }

    @Test func historyRows() throws {
        var created = Longrun_V1_OperationEvent()
        created.sequence = 7
        created.time = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 0)
        created.name = "operations/x"
        created.actor = .with { $0.label = "worker-1"; $0.uid = 1000; $0.pid = 42 }
        created.created = .with {
            $0.requestID = "r-1"
            $0.cancellation = .with { $0.mode = .cooperative; $0.grace = Google_Protobuf_Duration(seconds: 30) }
        }
        var progressed = Longrun_V1_OperationEvent()
        progressed.sequence = 9
        progressed.time = Google_Protobuf_Timestamp(seconds: 1_767_225_601, nanos: 500_000_000)
        progressed.actor = .with { $0.uid = 1000 }
        let fivePercent = try structAny(["percent": .init(numberValue: 5)])
        progressed.progressed = .with { $0.version = 2; $0.metadata = fivePercent }
        var cancel = Longrun_V1_OperationEvent()
        cancel.sequence = 10
        cancel.time = Google_Protobuf_Timestamp(seconds: 1_767_225_602, nanos: 0)
        cancel.cancelRequested = .with { $0.reason = "too slow"; $0.graceDeadline = Google_Protobuf_Timestamp(seconds: 1_767_225_632, nanos: 0) }
        var completed = Longrun_V1_OperationEvent()
        completed.sequence = 11
        completed.time = Google_Protobuf_Timestamp(seconds: 1_767_225_603, nanos: 0)
        completed.actor = .with { $0.label = "longrun-engine" }
        completed.completed = .with { $0.error = status(.cancelled, "grace period over") }
        var deleted = Longrun_V1_OperationEvent()
        deleted.sequence = 12
        deleted.time = Google_Protobuf_Timestamp(seconds: 1_767_225_604, nanos: 0)
        deleted.deleted = .init()

        #expect(HumanOutput.eventsTable([created, progressed, cancel, completed, deleted]) == """
            SEQ  TIME                      KIND              ACTOR                     DETAIL
            7    2026-01-01T00:00:00Z      created           worker-1 uid=1000 pid=42  request_id=r-1 cancellation=cooperative grace=30s
            9    2026-01-01T00:00:01.500Z  progressed        uid=1000                  v2 google.protobuf.Struct {"percent":5.0}
            10   2026-01-01T00:00:02Z      cancel_requested  -                         reason="too slow" grace_deadline=2026-01-01T00:00:32Z
            11   2026-01-01T00:00:03Z      completed         longrun-engine            cancelled: grace period over
            12   2026-01-01T00:00:04Z      deleted           -
            """)
        #expect(HumanOutput.watchLine(created) == "7  2026-01-01T00:00:00Z  operations/x  created  worker-1 uid=1000 pid=42  request_id=r-1 cancellation=cooperative grace=30s")
    }
}

@Suite("Details output")
struct DetailsOutputTests {
    static let pending = Longrun_V1_OperationDetails.with {
        $0.operation = operation("operations/build-42", metadata: try! structAny(["percent": .init(numberValue: 40)]))
        $0.version = 3
        $0.createTime = t0
        $0.updateTime = at(2)
        $0.creator = .with { $0.label = "worker-1"; $0.uid = 1000; $0.pid = 42 }
        $0.requestID = "r-1"
        $0.cancellation = .with { $0.mode = .cooperative; $0.grace = Google_Protobuf_Duration(seconds: 30) }
        $0.cancelRequested = true
        $0.cancelReason = "too slow"
        $0.cancelDeadline = at(32)
        $0.lastSequence = 17
    }

    @Test func aRunningOperationWithACancelPending() {
        #expect(HumanOutput.detailsBlock(Self.pending) == """
            name:         operations/build-42
            done:         no
            metadata:     google.protobuf.Struct {"percent":40.0}
            version:      3
            created:      2026-01-01T00:00:00Z
            updated:      2026-01-01T00:00:02Z
            creator:      worker-1 uid=1000 pid=42
            request id:   r-1
            cancellation: cooperative grace=30s
            cancel:       requested reason="too slow" deadline=2026-01-01T00:00:32Z
            hold:         none
            lease:        none
            """)
    }

    @Test func aCancelledImmediateOperation() {
        let details = Longrun_V1_OperationDetails.with {
            $0.operation = operation("operations/x", done: true, error: status(.cancelled, "operation cancelled"))
            $0.version = 3
            $0.createTime = Google_Protobuf_Timestamp(seconds: 0, nanos: 0)
            $0.updateTime = Google_Protobuf_Timestamp(seconds: 1, nanos: 0)
            $0.endTime = Google_Protobuf_Timestamp(seconds: 1, nanos: 0)
            $0.creator = Longrun_V1_Actor()
            $0.cancellation = .with { $0.mode = .immediate }
            $0.cancelRequested = true
        }
        #expect(HumanOutput.detailsBlock(details) == """
            name:         operations/x
            done:         yes
            result:       cancelled
            error:        CANCELLED (1): operation cancelled
            version:      3
            created:      1970-01-01T00:00:00Z
            updated:      1970-01-01T00:00:01Z
            ended:        1970-01-01T00:00:01Z
            creator:      -
            cancellation: immediate
            cancel:       requested
            hold:         none
            lease:        none
            """)
    }

    @Test func aPlainOperation() {
        let details = Longrun_V1_OperationDetails.with {
            $0.operation = operation("operations/y", done: true, response: try! Google_Protobuf_Any(message: Google_Protobuf_StringValue("ok")))
            $0.version = 2
            $0.createTime = t0
            $0.updateTime = at(1)
            $0.endTime = at(1)
            $0.creator = .with { $0.label = "ci" }
        }
        #expect(HumanOutput.detailsBlock(details) == """
            name:     operations/y
            done:     yes
            result:   ok
            response: google.protobuf.StringValue "ok"
            version:  2
            created:  2026-01-01T00:00:00Z
            updated:  2026-01-01T00:00:01Z
            ended:    2026-01-01T00:00:01Z
            creator:  ci
            cancel:   not requested
            hold:     none
            lease:    none
            """)
    }

    @Test func aHeldOperationSaysSoAndWhy() {
        var details = Self.pending
        details.held = true
        details.holdReason = "audit 42"
        #expect(HumanOutput.detailsBlock(details).contains("""
            hold:         held reason="audit 42"
            lease:        none
            """))
        details.holdReason = ""
        #expect(HumanOutput.detailsBlock(details).contains("hold:         held\n"))
    }

    @Test func aLeasedOperationShowsItsLeaseAndHolder() {
        var details = Self.pending
        details.lease = .with {
            $0.holder = .with { $0.label = "worker-2"; $0.uid = 1000; $0.pid = 77; $0.host = "build-3" }
            $0.ttl = Google_Protobuf_Duration(seconds: 30)
            $0.expireTime = at(40)
        }
        #expect(HumanOutput.detailsBlock(details).hasSuffix("""
            lease:        ttl=30s expires=2026-01-01T00:00:40Z holder=worker-2 uid=1000 pid=77 host=build-3
            """))
    }
}
