import GRPCCore
import GRPCProtobuf
import LongrunDomain
import LongrunServer
import LongrunStore
import Testing

/// Every error case decides the status a client receives: its code, and the `ErrorInfo` reason in
/// the `grpc-status-details-bin` trailer, as grpc-swift builds it from a thrown error. The expected
/// codes and reasons are written out here, so that a new case without an entry, or a changed
/// mapping, fails.
struct ErrorStatusTests {
    static let domainCodes: [DomainError.Kind: RPCError.Code] = [
        .invalidArgument: .invalidArgument, .notFound: .notFound, .alreadyExists: .alreadyExists,
        .failedPrecondition: .failedPrecondition, .aborted: .aborted, .outOfRange: .outOfRange,
        .resourceExhausted: .resourceExhausted, .permissionDenied: .permissionDenied,
    ]

    static let storeStatuses: [StoreError.Kind: (code: RPCError.Code, reason: String)] = [
        .foreignDirectory: (.internalError, "STORAGE_FAILURE"),
        .unsupportedFormat: (.internalError, "STORAGE_FAILURE"),
        .missingDatabase: (.internalError, "STORAGE_FAILURE"),
        .dataLoss: (.dataLoss, "DATA_LOSS"),
        .resourceExhausted: (.resourceExhausted, "STORE_FULL"),
        .storage: (.internalError, "STORAGE_FAILURE"),
        .closed: (.unavailable, "SHUTTING_DOWN"),
        .unavailable: (.unavailable, "STORE_UNAVAILABLE"),
    ]

    /// What a client receives when a handler throws `error`.
    static func received(_ error: some RPCErrorConvertible & Error) throws -> (code: RPCError.Code, message: String, info: ErrorDetails.ErrorInfo) {
        let rpc = RPCError(error)
        let status = try #require(try rpc.unpackGoogleRPCStatus(), "no grpc-status-details-bin")
        #expect(status.code == rpc.code && status.message == rpc.message)
        let infos = status.details.compactMap(\.errorInfo)
        #expect(infos.count == 1, "details: \(status.details)")
        return (rpc.code, rpc.message, try #require(infos.first))
    }

    @Test func everyDomainErrorKindHasItsCode() throws {
        for kind in DomainError.Kind.allCases {
            let expected = try #require(Self.domainCodes[kind], "no expected code for \(kind)")
            var error = DomainError(kind, reason: .operationNotFound, "what went wrong")
            error.metadata = ["operation": "operations/x"]
            let (code, message, info) = try Self.received(error)
            #expect(code == expected, "\(kind)")
            #expect(message == "what went wrong")
            #expect(info.reason == "OPERATION_NOT_FOUND" && info.domain == "longrun.dev")
            #expect(info.metadata == ["operation": "operations/x"])
        }
    }

    @Test func reasonsTravelAsTheirUpperSnakeNames() throws {
        let reasons: [(DomainError.Reason, String)] = [
            (.historyCompacted, "HISTORY_COMPACTED"), (.requestIDReused, "REQUEST_ID_REUSED"),
            (.invalidJSONBody, "INVALID_JSON_BODY"), (.producerLeaseExpired, "PRODUCER_LEASE_EXPIRED"),
            (.noPeerCredentials, "NO_PEER_CREDENTIALS"), (.generatedIDTaken, "GENERATED_ID_TAKEN"),
        ]
        for (reason, name) in reasons {
            #expect(try Self.received(DomainError(.invalidArgument, reason: reason, "m")).info.reason == name)
            #expect(ErrorInfo(reason: reason).reason == name)
        }
    }

    @Test func everyStoreErrorKindHasItsCodeAndReason() throws {
        for kind in StoreError.Kind.allCases {
            let expected = try #require(Self.storeStatuses[kind], "no expected status for \(kind)")
            let (code, message, info) = try Self.received(StoreError(kind, "the store said no"))
            #expect(code == expected.code, "\(kind)")
            #expect(info.reason == expected.reason, "\(kind)")
            #expect(message == "the store said no" && info.domain == "longrun.dev" && info.metadata.isEmpty)
        }
    }

    @Test func aDamagedRecordNamesItselfAndItsRepair() throws {
        // A live record's key is its create sequence: the reader that knew its name says it.
        let view = try Self.received(StoreError.damaged(DamagedRecord(database: "operations_by_creation", key: [0, 0, 0, 0, 0, 0, 0, 7],
                                                                      operation: try OperationName(parsing: "operations/job"))))
        #expect(view.code == .dataLoss && view.info.reason == "RECORD_DAMAGED")
        #expect(view.info.metadata["database"] == "operations_by_creation" && view.info.metadata["operation"] == "operations/job")
        #expect(view.info.metadata["repair"] == "longrun repair operations/job")
        // A tombstone's key is its name.
        let tombstone = try Self.received(StoreError.damaged(DamagedRecord(database: "tombstones", key: Array("operations/job".utf8))))
        #expect(tombstone.info.metadata["operation"] == "operations/job")

        var key = [UInt8](repeating: 0, count: 8)
        key[7] = 42
        let event = try Self.received(StoreError.damaged(DamagedRecord(database: "log", key: key)))
        #expect(event.code == .dataLoss && event.info.reason == "RECORD_DAMAGED")
        #expect(event.info.metadata["sequence"] == "42")
        #expect(event.info.metadata["repair"] == "longrun-replay verify --data-dir DIR (then restore from a backup)")
    }
}
