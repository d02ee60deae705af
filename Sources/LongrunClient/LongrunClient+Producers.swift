import GRPCCore
public import LongrunProto
public import SwiftProtobuf

/// `longrun.v1.Producers`: update, heartbeat, adopt and complete an operation.
extension LongrunClient {
    /// `UpdateOperation`: replaces the metadata (nil clears it).
    public func updateOperation(
        _ name: String, metadata: Google_Protobuf_Any?, expectedVersion: UInt64? = nil
    ) async throws -> Longrun_V1_UpdateOperationResponse {
        let request = Longrun_V1_UpdateOperationRequest.with {
            $0.name = name
            if let metadata { $0.metadata = metadata }
            if let expectedVersion { $0.expectedVersion = expectedVersion }
        }
        return try await mappingErrors {
            try await producers.updateOperation(request, metadata: requestMetadata)
        }
    }

    /// `Heartbeat`: renews the operation's lease; says until when and whether cancellation was requested.
    public func heartbeat(_ name: String) async throws -> Longrun_V1_HeartbeatResponse {
        try await mappingErrors {
            try await producers.heartbeat(.with { $0.name = name }, metadata: requestMetadata)
        }
    }

    /// `AdoptOperation`: takes the operation over at `expectedVersion`, holding its lease from now
    /// on (for `lease`, or the TTL the lease had).
    public func adoptOperation(_ name: String, expectedVersion: UInt64, lease: Duration? = nil) async throws -> Longrun_V1_UpdateOperationResponse {
        let request = Longrun_V1_AdoptOperationRequest.with {
            $0.name = name
            $0.expectedVersion = expectedVersion
            if let lease { $0.lease = Google_Protobuf_Duration(rounding: lease) }
        }
        return try await mappingErrors {
            try await producers.adoptOperation(request, metadata: requestMetadata)
        }
    }

    /// `CompleteOperation` with a response.
    public func completeOperation(_ name: String, response: Google_Protobuf_Any) async throws -> Google_Longrunning_Operation {
        try await completeOperation(.with {
            $0.name = name
            $0.response = response
        })
    }

    /// `CompleteOperation` with an error (its code must not be OK).
    public func completeOperation(_ name: String, error: Google_Rpc_Status) async throws -> Google_Longrunning_Operation {
        try await completeOperation(.with {
            $0.name = name
            $0.error = error
        })
    }

    func completeOperation(_ request: Longrun_V1_CompleteOperationRequest) async throws -> Google_Longrunning_Operation {
        try await mappingErrors {
            try await producers.completeOperation(request, metadata: requestMetadata)
        }
    }
}
