import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import LongrunEngine
import LongrunStore
import LongrunProto
import LongrunServer
import LongrunTestSupport
import ServiceLifecycle
import SwiftProtobuf
import Testing

/// A real `LongrunServer` on a temporary Unix socket, and clients of every service connected to it.
struct Harness: Sendable {
    let operations: Google_Longrunning_Operations.Client<HTTP2ClientTransport.Posix>
    let producers: Longrun_V1_Producers.Client<HTTP2ClientTransport.Posix>
    let history: Longrun_V1_History.Client<HTTP2ClientTransport.Posix>
    let admin: Longrun_V1_Admin.Client<HTTP2ClientTransport.Posix>
    let health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>
    let reflection: Grpc_Reflection_V1_ServerReflection.Client<HTTP2ClientTransport.Posix>
    let reflectionV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.Client<HTTP2ClientTransport.Posix>
    let engine: LongrunEngine
    let server: LongrunServer
    let clock: ManualClock
    let socketPath: String
    let directory: TemporaryDirectory

    /// `reusing`: serve the store in that directory (kept afterwards), e.g. one a previous harness
    /// filled; otherwise a new directory, removed at the end.
    static func with<R: Sendable>(
        reusing kept: TemporaryDirectory? = nil,
        configure: (inout LongrunEngine.Configuration) -> Void = { _ in },
        server configureServer: (inout LongrunServer.Configuration) -> Void = { _ in },
        _ body: (Harness) async throws -> R
    ) async throws -> R {
        let directory = kept ?? TemporaryDirectory(prefix: "longrun-server")
        defer { if kept == nil { directory.remove() } }
        let clock = ManualClock(SystemWallClock().now())
        let engine = try Fixtures.openEngine(directory.child("data"), clock: clock, configure: configure)
        let socketPath = directory.child("longrund.sock")
        var serverConfiguration = LongrunServer.Configuration(socketPath: socketPath)
        configureServer(&serverConfiguration)
        let server = try LongrunServer(engine: engine, configuration: serverConfiguration, logger: Fixtures.quietLogger)
        // Stopped the way the daemon stops (graceful shutdown through a ServiceGroup), not by
        // cancelling its task: cancellation drops connections the transport has accepted but not
        // yet handled, which NIO treats as a programming error and traps on.
        let group = ServiceGroup(configuration: .init(services: [server], logger: Fixtures.quietLogger))
        let serving = Task { try await group.run() }
        let result: Result<R, any Error>
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
            result = .success(try await withGRPCClient(transport: transport) { client in
                let harness = Harness(
                    operations: .init(wrapping: client), producers: .init(wrapping: client), history: .init(wrapping: client),
                    admin: .init(wrapping: client), health: .init(wrapping: client), reflection: .init(wrapping: client),
                    reflectionV1Alpha: .init(wrapping: client), engine: engine, server: server, clock: clock, socketPath: socketPath, directory: directory
                )
                // One call first: the server is serving, and the client is running before any body returns.
                _ = try await harness.admin.getServerInfo(.init())
                return try await body(harness)
            })
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        _ = await serving.result
        engine.close()
        return try result.get()
    }

    func create(id: String? = nil, parent: String = "", metadata: Google_Protobuf_Any? = nil, immediate: Bool = false,
                actor: String? = nil) async throws -> Google_Longrunning_Operation {
        var request = Longrun_V1_CreateOperationRequest()
        request.parent = parent
        if let id { request.operationID = id }
        if let metadata { request.metadata = metadata }
        if immediate { request.cancellation.mode = .immediate }
        var metadataHeaders: Metadata = [:]
        if let actor { metadataHeaders.addString(actor, forKey: "longrun-actor") }
        return try await producers.createOperation(request, metadata: metadataHeaders)
    }

    func complete(_ name: String, response: Google_Protobuf_Any) async throws -> Google_Longrunning_Operation {
        var request = Longrun_V1_CompleteOperationRequest()
        request.name = name
        request.response = response
        return try await producers.completeOperation(request)
    }
}

func any(_ message: some SwiftProtobuf.Message) -> Google_Protobuf_Any {
    try! Google_Protobuf_Any(message: message)
}

/// Expects `body` to fail with `code` and, when given, the `ErrorInfo` reason the server attached.
func expectRPCError(_ code: RPCError.Code, reason: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let reason {
            let status = try? error.unpackGoogleRPCStatus()
            let reasons = status?.details.compactMap { $0.errorInfo?.reason } ?? []
            #expect(reasons == [reason], "details: \(String(describing: status?.details))", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
