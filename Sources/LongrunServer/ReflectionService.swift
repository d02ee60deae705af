import Foundation
import GRPCCore
import LongrunProto
import SwiftProtobuf

/// `grpc.reflection.v1.ServerReflection`: lets `grpcurl` and other tools list the services and
/// fetch their proto descriptors (with every file they import) without the `.proto` files.
struct ReflectionService: Grpc_Reflection_V1_ServerReflection.ServiceProtocol {
    typealias Request = Grpc_Reflection_V1_ServerReflectionRequest
    typealias Response = Grpc_Reflection_V1_ServerReflectionResponse

    let index: DescriptorIndex
    /// The fully-qualified names of the services served, as `list_services` reports them.
    let services: [String]

    func serverReflectionInfo(request: StreamingServerRequest<Request>, context: ServerContext) async throws
        -> StreamingServerResponse<Response>
    {
        StreamingServerResponse { writer in
            // Files already sent on this stream are not sent again as dependencies.
            var sent = Set<String>()
            for try await message in request.messages {
                try await writer.write(answer(message, sent: &sent))
            }
            return [:]
        }
    }

    /// One answer per request; an unknown name is an `error_response` (NOT_FOUND), not the end of
    /// the stream.
    func answer(_ request: Request, sent: inout Set<String>) -> Response {
        var response = Response()
        response.validHost = request.host
        response.originalRequest = request
        switch request.messageRequest {
        case .listServices:
            var list = Grpc_Reflection_V1_ListServiceResponse()
            list.service = services.map { name in
                var service = Grpc_Reflection_V1_ServiceResponse()
                service.name = name
                return service
            }
            response.listServicesResponse = list
        case .fileByFilename(let name):
            response.messageResponse = files(index.fileAndDependencies(name, excluding: &sent), notFound: "no file named '\(name)'")
        case .fileContainingSymbol(let symbol):
            let file = index.fileBySymbol[symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol]
            response.messageResponse = files(file.flatMap { index.fileAndDependencies($0, excluding: &sent) },
                                             notFound: "no symbol named '\(symbol)'")
        case .fileContainingExtension(let request):
            let file = index.extensions[request.containingType]?[request.extensionNumber]
            response.messageResponse = files(file.flatMap { index.fileAndDependencies($0, excluding: &sent) },
                                             notFound: "no extension \(request.extensionNumber) of '\(request.containingType)'")
        case .allExtensionNumbersOfType(let type):
            if index.messages.contains(type) {
                var numbers = Grpc_Reflection_V1_ExtensionNumberResponse()
                numbers.baseTypeName = type
                numbers.extensionNumber = (index.extensions[type].map { Array($0.keys) } ?? []).sorted()
                response.allExtensionNumbersResponse = numbers
            } else {
                response.errorResponse = Self.error(.notFound, "no message type named '\(type)'")
            }
        case nil:
            response.errorResponse = Self.error(.invalidArgument, "the request sets none of the message_request fields")
        }
        return response
    }

    private func files(_ files: [Data]?, notFound message: String) -> Response.OneOf_MessageResponse {
        guard let files else { return .errorResponse(Self.error(.notFound, message)) }
        var response = Grpc_Reflection_V1_FileDescriptorResponse()
        response.fileDescriptorProto = files
        return .fileDescriptorResponse(response)
    }

    static func error(_ code: RPCError.Code, _ message: String) -> Grpc_Reflection_V1_ErrorResponse {
        var error = Grpc_Reflection_V1_ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        return error
    }
}

/// `grpc.reflection.v1alpha.ServerReflection`, the older name many tools still try first. Its
/// messages are the v1 messages under another package (same fields, same numbers), so each request
/// is re-read as v1, answered by ``ReflectionService``, and the answer re-read as v1alpha.
struct ReflectionServiceV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.ServiceProtocol {
    let v1: ReflectionService

    func serverReflectionInfo(request: StreamingServerRequest<Grpc_Reflection_V1alpha_ServerReflectionRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Grpc_Reflection_V1alpha_ServerReflectionResponse>
    {
        let v1 = self.v1
        return StreamingServerResponse { writer in
            var sent = Set<String>()
            for try await message in request.messages {
                let request = try ReflectionService.Request(serializedBytes: message.serializedBytes() as [UInt8])
                let answer = v1.answer(request, sent: &sent)
                try await writer.write(Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: answer.serializedBytes() as [UInt8]))
            }
            return [:]
        }
    }
}
