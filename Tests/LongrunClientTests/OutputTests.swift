import Foundation
@testable import LongrunClient
import LongrunProto
import SwiftProtobuf
import Synchronization
import Testing

func structAny(_ fields: [String: Google_Protobuf_Value]) throws -> Google_Protobuf_Any {
    try Google_Protobuf_Any(message: Google_Protobuf_Struct(fields: fields))
}

func operation(_ name: String, done: Bool = false, metadata: Google_Protobuf_Any? = nil,
               response: Google_Protobuf_Any? = nil, error: Google_Rpc_Status? = nil) -> Google_Longrunning_Operation {
    Google_Longrunning_Operation.with {
        $0.name = name
        $0.done = done
        if let metadata { $0.metadata = metadata }
        if let response { $0.response = response }
        if let error { $0.error = error }
    }
}

func status(_ code: StatusCode, _ message: String, details: [Google_Protobuf_Any] = []) -> Google_Rpc_Status {
    Google_Rpc_Status.with {
        $0.code = code.rawValue
        $0.message = message
        $0.details = details
    }
}

/// An `Any` of a type nobody registered.
let unknownAny = Google_Protobuf_Any.with {
    $0.typeURL = "type.googleapis.com/acme.v1.BuildMetadata"
    $0.value = Data([0x08, 0x2a, 0xff])
}

func jsonObject(_ line: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

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

    @Test func theReporterPrintsOnlyChanges() throws {
        let lines = Mutex<[String]>([])
        let reporter = ProgressReporter(write: { line in lines.withLock { $0.append(line) } }, now: { time })
        let first = try structAny(["percent": .init(numberValue: 10)])
        let second = try structAny(["percent": .init(numberValue: 20), "message": .init(stringValue: "half")])
        reporter.observe(operation("operations/x"))                   // nothing yet: no metadata
        reporter.observe(operation("operations/x", metadata: first))  // 10%
        reporter.observe(operation("operations/x", metadata: first))  // unchanged
        reporter.observe(operation("operations/x", metadata: second)) // 20% half
        reporter.observe(operation("operations/x", metadata: second)) // unchanged
        reporter.observe(operation("operations/x", done: true, metadata: first)) // done: the result is printed instead
        #expect(lines.withLock { $0 } == ["operations/x  10%", "operations/x  20%  half"])
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

    @Test(arguments: [
        (Int64(0), Int32(0), "1970-01-01T00:00:00Z"),
        (951_782_400, 0, "2000-02-29T00:00:00Z"),
        (1_767_225_599, 999_999_999, "2025-12-31T23:59:59.999Z"),
        (-1, 0, "1969-12-31T23:59:59Z"),
        (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
    ])
    func rfc3339(_ seconds: Int64, _ nanos: Int32, _ expected: String) {
        #expect(RFC3339.format(seconds: seconds, nanos: nanos) == expected)
    }
}

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
}

@Suite("Exit codes and error lines")
struct OutcomeTests {
    @Test func exitCodesFollowTheResult() throws {
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, response: try Google_Protobuf_Any(message: Google_Protobuf_Empty()))) == 0)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, error: status(.internal, "boom"))) == 1)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, error: status(.cancelled, "stop"))) == 2)
        #expect(ExitCodes.forOperation(operation("operations/x")) == 3)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true)) == 1)
        #expect(ExitCodes.cancellationRequested == 4)
        #expect(ExitCodes.usage == 64)
        #expect(ExitCodes.unreachable == 6)
    }

    @Test func unreachableMeansTheDaemonNotTheOperation() {
        #expect(ExitCodes.isUnreachable(SocketMissing(path: "/s")))
        #expect(ExitCodes.isUnreachable(LongrunClientError(code: .unavailable, message: "Stream unexpectedly closed.")))
        #expect(!ExitCodes.isUnreachable(LongrunClientError(code: .internal, message: "boom")))
        #expect(!ExitCodes.isUnreachable(LongrunClientError(code: .notFound, message: "no such operation")))
        #expect(!ExitCodes.isUnreachable(CancellationError()))
    }

    @Test func connectionFailuresNameTheSocketAndWhy() {
        let refused = LongrunClientError(code: .unavailable, message: "Could not establish a connection to the remote peer.")
        func line(_ error: any Error, _ state: SocketState) -> String {
            ErrorLine.message(for: error, socketPath: "/run/x.sock", probe: { path in
                #expect(path == "/run/x.sock")
                return state
            })
        }
        let notRunning = "cannot connect to /run/x.sock: no such socket; longrund is not running on it"
        #expect(line(refused, .missing).hasPrefix(notRunning))
        #expect(line(SocketMissing(path: "/run/x.sock"), .missing).hasPrefix(notRunning))
        #expect(line(refused, .missing).contains("start it with `longrund --socket /run/x.sock`"))
        #expect(ErrorLine.message(for: refused, socketPath: "/run/longrun/longrund.sock", probe: { _ in .missing })
            .contains("start it with `systemctl start longrund.socket`"))
        #expect(line(refused, .refused).hasPrefix("cannot connect to /run/x.sock: nothing listens on it (a stale socket); longrund is not running on it"))
        let denied = line(refused, .permissionDenied(group: "longrun"))
        #expect(denied.hasPrefix("cannot connect to /run/x.sock: permission denied; your user is not in the socket's group longrun"))
        #expect(denied.contains("usermod -aG longrun $USER") && denied.contains("log in again"))
        #expect(!denied.contains("not running"))
        #expect(line(SocketMissing(path: "/run/x.sock"), .permissionDenied(group: nil)) == "cannot connect to /run/x.sock: permission denied on a directory on the way to the socket")
        // Something accepts connections: the RPC's own error is the better description.
        #expect(line(refused, .accepting) == "UNAVAILABLE: Could not establish a connection to the remote peer.")
        // The connection broke during a call: whether the daemon is still there.
        let closed = LongrunClientError(code: .unavailable, message: "Stream unexpectedly closed.")
        #expect(line(closed, .refused).hasPrefix("lost the connection to longrund (UNAVAILABLE: Stream unexpectedly closed.); now cannot connect to /run/x.sock: nothing listens on it"))
        let shuttingDown = LongrunClientError(code: .unavailable, message: "server is shutting down")
        #expect(line(shuttingDown, .accepting) == "UNAVAILABLE: server is shutting down")
    }

    @Test func rpcErrorsPrintAsOneLine() {
        let error = LongrunClientError(code: .notFound, message: "operation operations/x does not exist",
                                       errorInfo: .with { $0.reason = "OPERATION_NOT_FOUND" })
        #expect(ErrorLine.message(for: error, socketPath: "/s") == "NOT_FOUND: operation operations/x does not exist (OPERATION_NOT_FOUND)")
    }
}
