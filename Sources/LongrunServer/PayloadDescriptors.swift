import Foundation
public import LongrunDomain
import SwiftProtobuf

/// The producers' message types, from `FileDescriptorSet`s as `protoc --include_imports
/// --descriptor_set_out` writes them, converted into the domain's ``PayloadSchemas`` so that
/// filters can reach into operations' metadata and response (`longrund --descriptor-set`).
public enum PayloadDescriptors {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The well-known types and every message of the files at `paths`. Throws an error naming the
    /// file and what is wrong with it: unreadable, not a descriptor set, a type declared twice
    /// differently, or a field whose message type no file declares.
    public static func load(paths: [String]) throws(LoadError) -> PayloadSchemas {
        var schemas = PayloadSchemas.wellKnown
        for path in paths {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw LoadError(description: "--descriptor-set \(path): cannot read it: \((error as NSError).localizedDescription)")
            }
            let set: Google_Protobuf_FileDescriptorSet
            do {
                set = try Google_Protobuf_FileDescriptorSet(serializedBytes: data)
            } catch {
                throw LoadError(description: "--descriptor-set \(path): not a FileDescriptorSet (\(error)); write one with protoc --include_imports --descriptor_set_out=FILE")
            }
            if set.file.isEmpty {
                throw LoadError(description: "--descriptor-set \(path): the set holds no files; write one with protoc --include_imports --descriptor_set_out=FILE")
            }
            do throws(PayloadSchemaError) {
                for schema in messages(of: set) { try schemas.register(schema) }
                try schemas.checkReferences()
            } catch {
                throw LoadError(description: "--descriptor-set \(path): \(error.message)")
            }
        }
        return schemas
    }

    /// Every message of the set (nested ones included) as a ``MessageSchema``.
    static func messages(of set: Google_Protobuf_FileDescriptorSet) -> [MessageSchema] {
        var enums: [String: EnumSchema] = [:]
        func collectEnums(_ list: [Google_Protobuf_EnumDescriptorProto], scope: String) {
            for enumeration in list {
                let name = scope + enumeration.name
                enums[name] = EnumSchema(fullName: name, numbers: Dictionary(enumeration.value.map { ($0.name, $0.number) }, uniquingKeysWith: { first, _ in first }))
            }
        }
        func collectNestedEnums(_ messages: [Google_Protobuf_DescriptorProto], scope: String) {
            for message in messages {
                let name = scope + message.name
                collectEnums(message.enumType, scope: name + ".")
                collectNestedEnums(message.nestedType, scope: name + ".")
            }
        }
        for file in set.file {
            let scope = file.package.isEmpty ? "" : file.package + "."
            collectEnums(file.enumType, scope: scope)
            collectNestedEnums(file.messageType, scope: scope)
        }

        var schemas: [MessageSchema] = []
        func add(_ messages: [Google_Protobuf_DescriptorProto], scope: String) {
            for message in messages {
                let name = scope + message.name
                let fields = message.field.compactMap { field(from: $0, enums: enums) }
                schemas.append(MessageSchema(fullName: name, fields: fields, isMapEntry: message.options.mapEntry))
                add(message.nestedType, scope: name + ".")
            }
        }
        for file in set.file {
            add(file.messageType, scope: file.package.isEmpty ? "" : file.package + ".")
        }
        return schemas
    }

    /// A field as the domain models it; nil for groups and for a type the set does not declare.
    static func field(from proto: Google_Protobuf_FieldDescriptorProto, enums: [String: EnumSchema]) -> FieldSchema? {
        let typeName = proto.typeName.hasPrefix(".") ? String(proto.typeName.dropFirst()) : proto.typeName
        let kind: FieldSchema.Kind
        switch proto.type {
        case .int32: kind = .int32
        case .int64: kind = .int64
        case .uint32: kind = .uint32
        case .uint64: kind = .uint64
        case .sint32: kind = .sint32
        case .sint64: kind = .sint64
        case .fixed32: kind = .fixed32
        case .fixed64: kind = .fixed64
        case .sfixed32: kind = .sfixed32
        case .sfixed64: kind = .sfixed64
        case .float: kind = .float
        case .double: kind = .double
        case .bool: kind = .bool
        case .string: kind = .string
        case .bytes: kind = .bytes
        case .enum:
            guard let schema = enums[typeName] else { return nil }
            kind = .enumeration(schema)
        case .message: kind = .message(typeName)
        case .group: return nil
        }
        let repeated = proto.label == .repeated
        // Explicit presence (a oneof member, proto3 `optional`, which sits in a synthetic oneof):
        // absent is absent. Otherwise an absent scalar reads as its default, as generated code does.
        let defaultWhenAbsent = !repeated && !proto.hasOneofIndex && !proto.proto3Optional
        if case .message = kind {
            return FieldSchema(name: proto.name, number: proto.number, kind: kind, repeated: repeated)
        }
        return FieldSchema(name: proto.name, number: proto.number, kind: kind, repeated: repeated, defaultWhenAbsent: defaultWhenAbsent)
    }
}
