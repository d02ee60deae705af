import Foundation
import LongrunProto
import SwiftProtobuf

/// Fills in the fields the protobuf JSON mapping leaves out, so that a script finds every field of
/// every message the tools print (docs/JSON.md): a field left at its default prints as that default
/// (`false`, `0`, `""`, `[]`, `{}`, an enum's zero value) and an unset message or `optional` field
/// as `null`. Of a `oneof`, only the member that is set prints: two members can never both be
/// present. Payloads (`google.protobuf.Any`) and the other well-known types keep their own JSON.
///
/// The fields come from the descriptors generated with the code (``LongrunDescriptors``), so a
/// field added to a `.proto` is printed without a change here.
package enum CompleteJSON {
    /// `json`, the JSON SwiftProtobuf printed for a message of type `messageName` (e.g.
    /// `google.longrunning.Operation`), with its missing fields added and every field in
    /// field-number order. Unchanged if the type is unknown or the JSON is not an object.
    package static func complete(_ json: String, messageName: String) -> String {
        guard let message = Schema.shared.messages[messageName], let tree = JSONTree(parsing: json) else { return json }
        return complete(tree, message).text
    }

    private static func complete(_ tree: JSONTree, _ message: Schema.Message) -> JSONTree {
        guard case .object(var members) = tree else { return tree }
        for index in members.indices {
            guard let field = message.fields.first(where: { $0.jsonName == members[index].name }),
                  let type = field.messageType, let nested = Schema.shared.messages[type]
            else { continue }
            switch members[index].value {
            case .object:
                if !field.isMap { members[index].value = complete(members[index].value, nested) }
            case .array(let elements):
                members[index].value = .array(elements.map { complete($0, nested) })
            case .token:
                break
            }
        }
        var present: [String: JSONTree.Member] = [:]
        for member in members where present[member.name] == nil { present[member.name] = member }
        var ordered: [JSONTree.Member] = []
        for field in message.fields {
            if let member = present.removeValue(forKey: field.jsonName) {
                ordered.append(member)
            } else if !field.inOneof {
                ordered.append(JSONTree.Member(name: field.jsonName, value: .literal(field.absentJSON)))
            }
        }
        return .object(ordered + members.filter { present[$0.name] != nil })
    }

    /// The messages of the generated descriptor set, by fully-qualified name.
    private struct Schema: Sendable {
        struct Field: Sendable {
            var jsonName: String
            /// Fully-qualified message type (no leading dot) of a message field to complete in turn;
            /// nil for scalars, enums and the well-known types, whose JSON is their own.
            var messageType: String?
            var isMap: Bool
            /// A member of a real `oneof` (not the synthetic one of a proto3 `optional`).
            var inOneof: Bool
            var absentJSON: String
        }

        struct Message: Sendable {
            var fields: [Field]
        }

        var messages: [String: Message] = [:]

        static let shared: Schema = {
            guard let data = Data(base64Encoded: LongrunDescriptors.fileDescriptorSetBase64, options: .ignoreUnknownCharacters),
                  let set = try? Google_Protobuf_FileDescriptorSet(serializedBytes: data)
            else { return Schema() }
            return Schema(set)
        }()

        init() {}

        init(_ set: Google_Protobuf_FileDescriptorSet) {
            var descriptors: [String: Google_Protobuf_DescriptorProto] = [:]
            var enumZero: [String: String] = [:]
            func collect(_ message: Google_Protobuf_DescriptorProto, scope: String) {
                let name = scope + message.name
                descriptors[name] = message
                for nested in message.nestedType { collect(nested, scope: name + ".") }
                for enumeration in message.enumType { enumZero[name + "." + enumeration.name] = Self.zeroName(enumeration) }
            }
            for file in set.file {
                let scope = file.package.isEmpty ? "" : file.package + "."
                for message in file.messageType { collect(message, scope: scope) }
                for enumeration in file.enumType { enumZero[scope + enumeration.name] = Self.zeroName(enumeration) }
            }
            for (name, descriptor) in descriptors {
                let fields = descriptor.field.sorted { $0.number < $1.number }.map { field in
                    let type = field.typeName.hasPrefix(".") ? String(field.typeName.dropFirst()) : field.typeName
                    let entry = field.type == .message ? descriptors[type] : nil
                    let isMap = entry?.options.mapEntry == true
                    let isRepeated = field.label == .repeated
                    let inRealOneof = field.hasOneofIndex && !field.proto3Optional
                    let absent: String =
                        if isMap { "{}" }
                        else if isRepeated { "[]" }
                        else if field.type == .message || field.type == .group || field.proto3Optional { "null" }
                        else { Self.defaultJSON(field.type, enumZero: enumZero[type]) }
                    let completes = field.type == .message && !isMap && !type.hasPrefix("google.protobuf.")
                    return Field(jsonName: field.hasJsonName ? field.jsonName : Self.lowerCamelCase(field.name),
                                 messageType: completes ? type : nil, isMap: isMap, inOneof: inRealOneof, absentJSON: absent)
                }
                messages[name] = Message(fields: fields)
            }
        }

        private static func zeroName(_ enumeration: Google_Protobuf_EnumDescriptorProto) -> String {
            enumeration.value.first { $0.number == 0 }?.name ?? "0"
        }

        private static func defaultJSON(_ type: Google_Protobuf_FieldDescriptorProto.TypeEnum, enumZero: String?) -> String {
            switch type {
            case .bool: "false"
            case .string, .bytes: "\"\""
            case .enum: enumZero.map { "\"\($0)\"" } ?? "0"
            default: "0"
            }
        }

        /// protoc's JSON name: underscores dropped, the letter after each one upper-cased.
        private static func lowerCamelCase(_ name: String) -> String {
            var result = ""
            var upperNext = false
            for character in name {
                if character == "_" {
                    upperNext = true
                } else {
                    result.append(upperNext ? Character(character.uppercased()) : character)
                    upperNext = false
                }
            }
            return result
        }
    }
}
