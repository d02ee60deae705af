import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunProto
import LongrunServer
import SwiftProtobuf

/// The W2 baseline server: `google.longrunning.Operations` on the same transport as longrund
/// (its `UnixServerTransport`, every call through grpc-swift's router; the daemon's request size
/// limit), whose GetOperation answers a fixed small running operation without touching any store.
/// `--grpc-swift-transport` serves it on grpc-swift's own `HTTP2ServerTransport.Posix` instead,
/// the transport longrund used before its own. Runs until it is terminated. Hidden: the load tool
/// starts it as a child of itself.
struct NoopServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noop-server",
        abstract: "Serve a no-op google.longrunning.Operations on a Unix socket (the W2 baseline).",
        shouldDisplay: false
    )

    @Option(help: "Unix socket to listen on.")
    var socket: String

    @Flag(help: "Serve on grpc-swift's HTTP2ServerTransport.Posix instead of longrund's own transport.")
    var grpcSwiftTransport = false

    func run() async throws {
        if grpcSwiftTransport {
            var config = HTTP2ServerTransport.Posix.Config.defaults
            config.rpc.maxRequestPayloadSize = 4 << 20  // as LongrunServer.Configuration.maximumRequestBytes
            let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: socket), transportSecurity: .plaintext, config: config)
            try await GRPCServer(transport: transport, services: [NoopOperations()]).serve()
        } else {
            let transport = try UnixServerTransport.bind(path: socket)
            try await GRPCServer(transport: transport, services: [NoopOperations()]).serve()
        }
    }
}

struct NoopOperations: Google_Longrunning_Operations.SimpleServiceProtocol {
    func getOperation(request: Google_Longrunning_GetOperationRequest, context: ServerContext) async throws -> Google_Longrunning_Operation {
        .with {
            $0.name = request.name
            $0.done = false
        }
    }

    func listOperations(request: Google_Longrunning_ListOperationsRequest, context: ServerContext) async throws -> Google_Longrunning_ListOperationsResponse {
        throw RPCError(code: .unimplemented, message: "no-op server")
    }

    func deleteOperation(request: Google_Longrunning_DeleteOperationRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        throw RPCError(code: .unimplemented, message: "no-op server")
    }

    func cancelOperation(request: Google_Longrunning_CancelOperationRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        throw RPCError(code: .unimplemented, message: "no-op server")
    }

    func waitOperation(request: Google_Longrunning_WaitOperationRequest, context: ServerContext) async throws -> Google_Longrunning_Operation {
        throw RPCError(code: .unimplemented, message: "no-op server")
    }
}
