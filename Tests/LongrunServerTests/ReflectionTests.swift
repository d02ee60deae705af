import Foundation
import GRPCCore
import LongrunProto
@testable import LongrunServer
import SwiftProtobuf
import Testing

@Suite("Reflection: the generated descriptors")
struct DescriptorIndexTests {
    @Test func everyServedServiceAndItsMethodsAreDescribed() throws {
        let index = DescriptorIndex.generated
        for service in LongrunServer.servedServices {
            let file = try #require(index.fileBySymbol[service], "\(service) is served but not in LongrunDescriptors; run Tools/generate-protos.sh")
            let proto = try Google_Protobuf_FileDescriptorProto(serializedBytes: try #require(index.files[file]).serialized)
            #expect(proto.service.contains { proto.package + "." + $0.name == service })
        }
        #expect(index.fileBySymbol["longrun.v1.Admin.GetServerInfo"] == "longrun/v1/admin.proto")
        #expect(index.fileBySymbol["google.longrunning.Operation"] == "google/longrunning/operations.proto")
        #expect(index.fileBySymbol["google.longrunning.Operation.done"] == "google/longrunning/operations.proto")
        #expect(index.fileBySymbol["grpc.health.v1.HealthCheckResponse.SERVING"] == "grpc/health/v1/health.proto")
        #expect(index.fileBySymbol["google.protobuf.Any"] == "google/protobuf/any.proto")
        #expect(index.fileBySymbol["acme.Nothing"] == nil)
    }

    @Test func aFileComesWithEveryFileItImportsOnce() throws {
        let index = DescriptorIndex.generated
        var sent = Set<String>()
        let files = try #require(index.fileAndDependencies("google/longrunning/operations.proto", excluding: &sent))
        let names = try files.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
        #expect(names.first == "google/longrunning/operations.proto")
        #expect(Set(names).count == names.count)
        // Closed under imports: every dependency of every file sent is sent too.
        for data in files {
            let proto = try Google_Protobuf_FileDescriptorProto(serializedBytes: data)
            for dependency in proto.dependency { #expect(names.contains(dependency), "\(proto.name) imports \(dependency)") }
        }
        #expect(names.contains("google/protobuf/any.proto"))
        // Asked again on the same stream: the file alone, its imports were sent already.
        #expect(index.fileAndDependencies("google/longrunning/operations.proto", excluding: &sent)?.count == 1)
        #expect(index.fileAndDependencies("acme/nothing.proto", excluding: &sent) == nil)
    }
}

/// `grpc.reflection.v1` and `v1alpha` on a real server.
@Suite("Reflection: the service")
struct ReflectionServiceTests {
    typealias Request = Grpc_Reflection_V1_ServerReflectionRequest
    typealias Response = Grpc_Reflection_V1_ServerReflectionResponse

    static func ask(_ h: Harness, _ requests: [Request]) async throws -> [Response] {
        try await h.reflection.serverReflectionInfo(requestProducer: { writer in
            try await writer.write(contentsOf: requests)
        }, onResponse: { response in
            var answers: [Response] = []
            for try await message in response.messages { answers.append(message) }
            return answers
        })
    }

    static func request(_ build: (inout Request) -> Void) -> Request {
        var request = Request()
        build(&request)
        return request
    }

    static func fileNames(_ response: Response) throws -> [String] {
        try response.fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
    }

    @Test func listsTheServedServicesAndDescribesEachWithItsImports() async throws {
        try await Harness.with { h in
            var requests = [Self.request { $0.listServices = "" }]
            for service in LongrunServer.servedServices { requests.append(Self.request { $0.fileContainingSymbol = service }) }
            let answers = try await Self.ask(h, requests)
            try #require(answers.count == requests.count)
            #expect(answers[0].listServicesResponse.service.map(\.name) == LongrunServer.servedServices)
            #expect(answers[0].originalRequest == requests[0])
            var received = Set<String>()
            for (service, answer) in zip(LongrunServer.servedServices, answers.dropFirst()) {
                let files = try answer.fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0) }
                let first = try #require(files.first, "\(service): \(answer)")
                #expect(first.service.contains { first.package + "." + $0.name == service })
                received.formUnion(files.map(\.name))
                // What this stream has received so far covers every import of what it received.
                for file in files { for dependency in file.dependency { #expect(received.contains(dependency), "\(file.name) → \(dependency)") } }
            }
        }
    }

    @Test func filesByNameExtensionsAndErrorsThatDoNotEndTheStream() async throws {
        try await Harness.with { h in
            let answers = try await Self.ask(h, [
                Self.request { $0.fileByFilename = "longrun/v1/admin.proto" },
                Self.request { $0.fileContainingSymbol = "acme.Nothing" },
                Self.request { $0.fileByFilename = "acme/nothing.proto" },
                Self.request {
                    $0.fileContainingExtension.containingType = "google.protobuf.MethodOptions"
                    $0.fileContainingExtension.extensionNumber = 72_295_728  // google.api.http
                },
                Self.request { $0.allExtensionNumbersOfType = "google.protobuf.MethodOptions" },
                Self.request { $0.allExtensionNumbersOfType = "acme.Nothing" },
                Self.request { $0.host = "localhost" },
                Self.request { $0.fileContainingSymbol = ".longrun.v1.Admin.GetServerInfo" },
            ])
            try #require(answers.count == 8)
            #expect(try Self.fileNames(answers[0]).first == "longrun/v1/admin.proto")
            #expect(answers[1].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
            #expect(answers[1].errorResponse.errorMessage.contains("acme.Nothing"))
            #expect(answers[2].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
            #expect(try Self.fileNames(answers[3]).first == "google/api/annotations.proto")
            #expect(answers[4].allExtensionNumbersResponse.baseTypeName == "google.protobuf.MethodOptions")
            #expect(answers[4].allExtensionNumbersResponse.extensionNumber.contains(72_295_728))
            #expect(answers[5].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
            #expect(answers[6].errorResponse.errorCode == Int32(RPCError.Code.invalidArgument.rawValue))
            #expect(answers[6].validHost == "localhost")
            // admin.proto was sent first on this stream: asked for again, it comes alone.
            #expect(try Self.fileNames(answers[7]) == ["longrun/v1/admin.proto"])
        }
    }

    @Test func v1alphaAnswersTheSame() async throws {
        try await Harness.with { h in
            var listRequest = Grpc_Reflection_V1alpha_ServerReflectionRequest()
            listRequest.listServices = "*"
            var symbolRequest = Grpc_Reflection_V1alpha_ServerReflectionRequest()
            symbolRequest.fileContainingSymbol = "google.longrunning.Operations"
            let list = listRequest, symbol = symbolRequest
            let answers = try await h.reflectionV1Alpha.serverReflectionInfo(requestProducer: { writer in
                try await writer.write(contentsOf: [list, symbol])
            }, onResponse: { response in
                var answers: [Grpc_Reflection_V1alpha_ServerReflectionResponse] = []
                for try await message in response.messages { answers.append(message) }
                return answers
            })
            try #require(answers.count == 2)
            #expect(answers[0].listServicesResponse.service.map(\.name) == LongrunServer.servedServices)
            #expect(answers[0].originalRequest == list)
            let first = try Google_Protobuf_FileDescriptorProto(serializedBytes: try #require(answers[1].fileDescriptorResponse.fileDescriptorProto.first))
            #expect(first.name == "google/longrunning/operations.proto")
            #expect(first.service.first?.method.map(\.name).contains("WaitOperation") == true)
        }
    }
}
