import GRPCCore
public import LongrunProto
import SwiftProtobuf

/// `longrun.v1.Admin`: server information, collections, bulk calls, snapshots, integrity, holds.
extension LongrunClient {
    /// `GetServerInfo`.
    public func serverInfo() async throws -> Longrun_V1_ServerInfo {
        try await mappingErrors {
            try await admin.getServerInfo(Longrun_V1_GetServerInfoRequest(), metadata: requestMetadata)
        }
    }

    /// `ListCollections`: one page of the collections that hold live operations.
    public func listCollections(
        matching name: String = "", pageSize: Int32 = 0, pageToken: String = ""
    ) async throws -> Longrun_V1_ListCollectionsResponse {
        let request = Longrun_V1_ListCollectionsRequest.with {
            $0.name = name
            $0.pageSize = pageSize
            $0.pageToken = pageToken
        }
        return try await mappingErrors {
            try await admin.listCollections(request, metadata: requestMetadata)
        }
    }

    /// `CancelOperations`: requests cancellation of every operation of `request.name` matching
    /// `request.filter`, each checked and recorded as its own cancel; returns what it did.
    public func cancelOperations(_ request: Longrun_V1_BulkOperationsRequest) async throws -> Longrun_V1_BulkOperationsResponse {
        try await mappingErrors { try await admin.cancelOperations(request, metadata: requestMetadata) }
    }

    /// `DeleteOperations`: deletes every operation of `request.name` matching `request.filter`,
    /// each checked and recorded as its own delete; returns what it did.
    public func deleteOperations(_ request: Longrun_V1_BulkOperationsRequest) async throws -> Longrun_V1_BulkOperationsResponse {
        try await mappingErrors { try await admin.deleteOperations(request, metadata: requestMetadata) }
    }

    /// `TakeSnapshot`.
    public func takeSnapshot() async throws -> Longrun_V1_TakeSnapshotResponse {
        try await mappingErrors {
            try await admin.takeSnapshot(Longrun_V1_TakeSnapshotRequest(), metadata: requestMetadata)
        }
    }

    /// `Scrub`: checks the whole store now and returns what the integrity checks know.
    public func scrub() async throws -> Longrun_V1_IntegrityStatus {
        try await mappingErrors {
            try await admin.scrub(Longrun_V1_ScrubRequest(), metadata: requestMetadata)
        }
    }

    /// `Repair`: rebuilds the named operations' views from the log (none: whatever a scrub finds).
    public func repair(_ names: [String] = []) async throws -> Longrun_V1_RepairResponse {
        try await mappingErrors {
            try await admin.repair(.with { $0.names = names }, metadata: requestMetadata)
        }
    }

    /// `SetHold`: `hold` true keeps the operation from expiring under retention; false releases it.
    public func setHold(_ name: String, hold: Bool, reason: String = "") async throws -> Longrun_V1_OperationDetails {
        try await mappingErrors {
            try await admin.setHold(.with {
                $0.name = name
                $0.hold = hold
                $0.reason = reason
            }, metadata: requestMetadata)
        }
    }
}
