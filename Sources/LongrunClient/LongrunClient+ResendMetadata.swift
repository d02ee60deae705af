package import LongrunProto
import SwiftProtobuf

extension LongrunClient {
    /// `UpdateOperation` with the operation's current metadata sent again: a liveness report that
    /// changes only its version and update time (`longrun progress` without metadata options).
    ///
    /// The metadata and version are read with `GetOperationDetails`, and the update is sent with
    /// `expected_version` set to that version, so that an update made in between is never
    /// overwritten with the older metadata: on `ABORTED` the operation is read again and the
    /// update retried, up to `attempts` times in all. With an `expectedVersion` given, that one is
    /// sent instead, and an `ABORTED` is thrown as it is.
    package func resendMetadata(
        _ name: String, expectedVersion: UInt64? = nil, attempts: Int = 5
    ) async throws -> Longrun_V1_UpdateOperationResponse {
        var attempt = 1
        while true {
            let details = try await details(name)
            let metadata: Google_Protobuf_Any? = details.operation.hasMetadata ? details.operation.metadata : nil
            do {
                return try await updateOperation(name, metadata: metadata, expectedVersion: expectedVersion ?? details.version)
            } catch let error as LongrunClientError where error.code == .aborted && expectedVersion == nil && attempt < attempts {
                attempt += 1
            }
        }
    }
}
