import GRPCCore
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunWire

/// `longrun.v1.Admin`: what the daemon is serving from.
struct AdminService: Longrun_V1_Admin.ServiceProtocol {
    static let version = LongrunVersion.current

    let engine: LongrunEngine
    let logger: Logger
    let policy: AccessPolicy

    func getServerInfo(request: ServerRequest<Longrun_V1_GetServerInfoRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_ServerInfo>
    {
        try await mappingErrors(logger) {
            var info = Longrun_V1_ServerInfo()
            info.version = Self.version
            info.dataDirectory = engine.directory
            info.appliedSequence = try engine.appliedSequence()
            info.durability = engine.configuration.durability.description
            return ServerResponse(message: info)
        }
    }

    func setHold(request: ServerRequest<Longrun_V1_SetHoldRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_OperationDetails>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            let message = request.message
            let name = try OperationName(parsing: message.name)
            let state = message.hold
                ? try await engine.hold(name, reason: message.reason, actor: call.actor, access: call.access)
                : try await engine.release(name, reason: message.reason, actor: call.actor, access: call.access)
            return ServerResponse(message: state.detailsProto)
        }
    }

    func takeSnapshot(request: ServerRequest<Longrun_V1_TakeSnapshotRequest>, context: ServerContext) async throws
        -> ServerResponse<Longrun_V1_TakeSnapshotResponse>
    {
        try await mappingErrors(logger) {
            let call = try CallContext(metadata: request.metadata, context: context, policy: policy)
            guard call.access == .unrestricted else {
                throw DomainError(.permissionDenied, reason: "PERMISSION_DENIED",
                                  "not allowed to take a snapshot: only root, the daemon's user or the admin group may (\(call.peer))")
            }
            let info = try await engine.takeSnapshot()
            var response = Longrun_V1_TakeSnapshotResponse()
            response.sequence = info.sequence
            response.path = info.path
            response.sizeBytes = info.sizeBytes
            return ServerResponse(message: response)
        }
    }
}
