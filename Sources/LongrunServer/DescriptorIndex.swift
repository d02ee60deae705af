import Foundation
import LongrunProto
import SwiftProtobuf

/// The proto files the daemon can describe, from the descriptor set generated with the code
/// (`LongrunDescriptors`), indexed the ways server reflection asks: by file name, by
/// fully-qualified symbol, and by extension.
struct DescriptorIndex: Sendable {
    struct File: Sendable {
        /// The serialized `google.protobuf.FileDescriptorProto`, as reflection hands it out.
        var serialized: Data
        var dependencies: [String]
    }

    private(set) var files: [String: File] = [:]
    /// Fully-qualified name (no leading dot) of every message, field, oneof, enum, enum value,
    /// service, method and extension → the file declaring it.
    private(set) var fileBySymbol: [String: String] = [:]
    private(set) var messages: Set<String> = []
    /// Extended message → extension number → the file declaring the extension.
    private(set) var extensions: [String: [Int32: String]] = [:]

    /// The protos of LongrunProto and everything they import.
    static let generated: DescriptorIndex = {
        do {
            return try DescriptorIndex(base64: LongrunDescriptors.fileDescriptorSetBase64)
        } catch {
            fatalError("the generated descriptor set (LongrunDescriptors.swift) does not decode: \(error); run Tools/generate-protos.sh")
        }
    }()

    struct DecodingError: Error {}

    init(base64: String) throws {
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters) else { throw DecodingError() }
        try self.init(set: Google_Protobuf_FileDescriptorSet(serializedBytes: data))
    }

    init(set: Google_Protobuf_FileDescriptorSet) throws {
        for file in set.file {
            files[file.name] = File(serialized: try file.serializedBytes(), dependencies: file.dependency)
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for message in file.messageType { add(message, scope: prefix, file: file.name) }
            for enumeration in file.enumType { add(enumeration, scope: prefix, file: file.name) }
            for field in file.extension { add(extension: field, scope: prefix, file: file.name) }
            for service in file.service {
                let name = prefix + service.name
                symbol(name, in: file.name)
                for method in service.method { symbol(name + "." + method.name, in: file.name) }
            }
        }
    }

    /// `name` and the files it depends on, directly or not, each once: `name` first, then the
    /// dependencies not in `sent` (files this stream already sent). Nil if no file has that name.
    func fileAndDependencies(_ name: String, excluding sent: inout Set<String>) -> [Data]? {
        guard let file = files[name] else { return nil }
        var result = [file.serialized]
        sent.insert(name)
        var pending = file.dependencies
        while let next = pending.popLast() {
            guard !sent.contains(next), let dependency = files[next] else { continue }
            sent.insert(next)
            result.append(dependency.serialized)
            pending.append(contentsOf: dependency.dependencies)
        }
        return result
    }

    private mutating func symbol(_ name: String, in file: String) {
        if fileBySymbol[name] == nil { fileBySymbol[name] = file }
    }

    private mutating func add(_ message: Google_Protobuf_DescriptorProto, scope: String, file: String) {
        let name = scope + message.name
        symbol(name, in: file)
        messages.insert(name)
        for field in message.field { symbol(name + "." + field.name, in: file) }
        for oneof in message.oneofDecl { symbol(name + "." + oneof.name, in: file) }
        for nested in message.nestedType { add(nested, scope: name + ".", file: file) }
        for enumeration in message.enumType { add(enumeration, scope: name + ".", file: file) }
        for field in message.extension { add(extension: field, scope: name + ".", file: file) }
    }

    /// Enum values are scoped like their enum's siblings (C++ scoping), as protoc resolves them.
    private mutating func add(_ enumeration: Google_Protobuf_EnumDescriptorProto, scope: String, file: String) {
        symbol(scope + enumeration.name, in: file)
        for value in enumeration.value { symbol(scope + value.name, in: file) }
    }

    private mutating func add(extension field: Google_Protobuf_FieldDescriptorProto, scope: String, file: String) {
        symbol(scope + field.name, in: file)
        let extendee = field.extendee.hasPrefix(".") ? String(field.extendee.dropFirst()) : field.extendee
        extensions[extendee, default: [:]][field.number] = file
    }
}
