import GRPCCore
import GRPCProtobuf
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunStore
import LongrunWire
import SwiftProtobuf

/// `longrun.v1.Admin`: what the daemon is serving from.
struct AdminService: Longrun_V1_Admin.ServiceProtocol {
    static let version = LongrunVersion.current

    let engine: LongrunEngine
    let logger: Logger

    func getServerInfo(request: ServerRequest<Longrun_V1_GetServerInfoRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ServerInfo>
    {
        var info = Longrun_V1_ServerInfo()
        info.version = Self.version
        info.dataDirectory = engine.location
        info.appliedSequence = try await engine.appliedSequence()
        info.durability = engine.configuration.durability.description
        info.integrity = engine.integrityStatus.proto
        return ServerResponse(message: info)
    }

    func listCollections(request: ServerRequest<Longrun_V1_ListCollectionsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ListCollectionsResponse>
    {
        let call = try CallContext.current
        let message = request.message
        let page = try await engine.collections(CollectionsRequest(name: message.name, pageSize: message.pageSize, pageToken: message.pageToken),
                                                access: call.access)
        var response = Longrun_V1_ListCollectionsResponse()
        response.collections = page.collections.map(\.description)
        response.nextPageToken = page.nextPageToken
        return ServerResponse(message: response)
    }

    func cancelOperations(request: ServerRequest<Longrun_V1_BulkOperationsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_BulkOperationsResponse>
    {
        try await bulk(request, context: context) { call in .cancel(reason: request.message.reason.isEmpty ? call.cancelReason : request.message.reason) }
    }

    func deleteOperations(request: ServerRequest<Longrun_V1_BulkOperationsRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_BulkOperationsResponse>
    {
        try await bulk(request, context: context) { _ in .delete }
    }

    private func bulk(_ request: ServerRequest<Longrun_V1_BulkOperationsRequest>, context: ServerContext,
                      _ action: (CallContext) -> BulkAction) async throws -> ServerResponse<Longrun_V1_BulkOperationsResponse> {
        let call = try CallContext.current
        let message = request.message
        let report = try await engine.bulk(action(call), name: message.name, filter: message.filter, all: message.all,
                                           validateOnly: message.validateOnly, actor: call.actor, access: call.access)
        var response = Longrun_V1_BulkOperationsResponse()
        response.matched = Int64(report.matched)
        response.changed = Int64(report.changed)
        response.unchanged = Int64(report.unchanged)
        response.refusedCount = Int64(report.refusedCount)
        response.refused = report.refused.map { refusal in
            .with {
                $0.name = refusal.name.description
                $0.status = GoogleRPCStatus(refusal.error, logger: logger).proto
            }
        }
        return ServerResponse(message: response)
    }

    func setHold(request: ServerRequest<Longrun_V1_SetHoldRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_OperationDetails>
    {
        let call = try CallContext.current
        let message = request.message
        let name = try OperationName(parsing: message.name)
        let state = message.hold
            ? try await engine.hold(name, reason: message.reason, actor: call.actor, access: call.access)
            : try await engine.release(name, reason: message.reason, actor: call.actor, access: call.access)
        return ServerResponse(message: state.detailsProto)
    }

    func takeSnapshot(request: ServerRequest<Longrun_V1_TakeSnapshotRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_TakeSnapshotResponse>
    {
        let info = try await engine.takeSnapshot(access: CallContext.current.access)
        var response = Longrun_V1_TakeSnapshotResponse()
        response.sequence = info.sequence
        response.path = info.path
        response.sizeBytes = info.sizeBytes
        return ServerResponse(message: response)
    }

    func scrub(request: ServerRequest<Longrun_V1_ScrubRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_IntegrityStatus>
    {
        ServerResponse(message: try await engine.scrub(access: CallContext.current.access).proto)
    }

    func repair(request: ServerRequest<Longrun_V1_RepairRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_RepairResponse>
    {
        let call = try CallContext.current
        let names = try request.message.names.map { try OperationName(parsing: $0) }
        let report = try await engine.repair(names, actor: call.actor, access: call.access)
        var response = Longrun_V1_RepairResponse()
        response.repaired = report.repaired.map(\.description)
        response.droppedEntries = UInt64(report.droppedEntries)
        response.unrepairable = report.unrepairable.map(\.proto)
        response.remaining = report.remaining.map(\.proto)
        return ServerResponse(message: response)
    }
}

extension IntegrityStatus {
    var proto: Longrun_V1_IntegrityStatus {
        var status = Longrun_V1_IntegrityStatus()
        if let started = lastPassStarted { status.lastPassStarted = started.proto }
        if let finished = lastPassFinished { status.lastPassFinished = finished.proto }
        status.passes = passes
        status.recordsChecked = recordsChecked
        status.damagedReads = damagedReads
        status.findings = findings.map(\.proto)
        status.passRunning = passesRunning > 0
        return status
    }
}

extension IntegrityFinding {
    var proto: Longrun_V1_IntegrityFinding {
        var finding = Longrun_V1_IntegrityFinding()
        finding.kind = kind.rawValue
        finding.database = database
        finding.key = printableKey ?? ""
        finding.operation = operation?.description ?? ""
        finding.sequence = sequence ?? 0
        finding.message = message
        finding.repairable = repairable
        return finding
    }
}
