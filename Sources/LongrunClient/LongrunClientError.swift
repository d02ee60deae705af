public import GRPCCore
public import LongrunProto
public import SwiftProtobuf

/// A failed call to the daemon: the gRPC status code, its message and, when the server sent one
/// (Longrun always does), the `google.rpc.ErrorInfo` from the status details.
///
/// It prints as one line naming the code, e.g.
/// `NOT_FOUND: operation operations/x does not exist (OPERATION_NOT_FOUND)`.
/// Match on ``code`` and ``reason``, not on the message.
public struct LongrunClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The gRPC status code.
    public var code: StatusCode
    /// The status message.
    public var message: String
    /// The `google.rpc.ErrorInfo` among the status details, if any.
    public var errorInfo: Google_Rpc_ErrorInfo?
    /// All the details of the `google.rpc.Status` the server sent (including the ErrorInfo).
    public var details: [Google_Protobuf_Any]

    public init(code: StatusCode, message: String, errorInfo: Google_Rpc_ErrorInfo? = nil, details: [Google_Protobuf_Any] = []) {
        self.code = code
        self.message = message
        self.errorInfo = errorInfo
        self.details = details
    }

    /// Maps a gRPC error. The `google.rpc.Status` in the `grpc-status-details-bin` trailer, when
    /// present and decodable, supplies the details; the RPC's own code and message win (they are
    /// what the server reported, and what the trailer's status should repeat).
    public init(_ error: RPCError) {
        self.init(code: StatusCode(error.code), message: error.message)
        if let status = Self.statusDetails(of: error) {
            if message.isEmpty { message = status.message }
            details = status.details
            errorInfo = status.details.lazy.compactMap { try? Google_Rpc_ErrorInfo(unpackingAny: $0) }.first
        }
    }

    /// The `google.rpc.Status` this error amounts to (as an operation's `error` would carry it).
    public var status: Google_Rpc_Status {
        Google_Rpc_Status.with {
            $0.code = code.rawValue
            $0.message = message
            $0.details = details
        }
    }

    /// `ErrorInfo.reason`, the stable identifier of the cause (e.g. `OPERATION_NOT_FOUND`), if sent.
    public var reason: String? {
        guard let reason = errorInfo?.reason, !reason.isEmpty else { return nil }
        return reason
    }

    public var description: String {
        var line = "\(code): \(message.isEmpty ? "(no message)" : message)"
        if let reason { line += " (\(reason))" }
        return line
    }

    static let statusDetailsKey = "grpc-status-details-bin"

    /// The `google.rpc.Status` in an error's `grpc-status-details-bin` trailer (this is what
    /// GRPCProtobuf's `RPCError.unpackGoogleRPCStatus()` reads too; decoding it here keeps the
    /// details as `Any`s, unknown types included).
    static func statusDetails(of error: RPCError) -> Google_Rpc_Status? {
        for bytes in error.metadata[binaryValues: statusDetailsKey] {
            if let status = try? Google_Rpc_Status(serializedBytes: bytes) { return status }
        }
        return nil
    }
}

extension LongrunClientError {
    /// Maps any error thrown by a gRPC call: `RPCError`s become ``LongrunClientError``s; anything
    /// else (including `CancellationError`) is returned unchanged.
    static func mapping(_ error: any Error) -> any Error {
        if let rpc = error as? RPCError { return LongrunClientError(rpc) }
        return error
    }
}

/// Runs a gRPC call and rethrows its `RPCError` as a ``LongrunClientError``. A call that fails
/// because its Task was cancelled (gRPC reports that in several ways, e.g. `UNKNOWN: The
/// transport threw an unexpected error.`) throws `CancellationError`.
func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        if Task.isCancelled { throw CancellationError() }
        throw LongrunClientError.mapping(error)
    }
}
