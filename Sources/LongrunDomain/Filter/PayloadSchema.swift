/// What a filter knows of the protobuf messages inside operations' `metadata` and `response`, so
/// that `metadata.percent_done > 50` can be checked when parsed and answered from the payload's bytes.
///
/// A small descriptor model, free of SwiftProtobuf: the daemon converts the producers'
/// `FileDescriptorSet`s into it (`--descriptor-set`), and the well-known types are built in.
public struct MessageSchema: Hashable, Sendable {
    /// Fully qualified, without a leading dot: `acme.build.v1.BuildMetadata`.
    public var fullName: String
    public var fields: [String: FieldSchema]
    /// A map field's entry message (`key = 1`, `value = 2`): a path names the key instead of a field.
    public var isMapEntry: Bool

    public init(fullName: String, fields: [FieldSchema], isMapEntry: Bool = false) {
        self.fullName = fullName
        self.fields = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.isMapEntry = isMapEntry
    }
}

public struct FieldSchema: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, sfixed32, sfixed64
        case float, double, bool, string, bytes
        case enumeration(EnumSchema)
        /// A nested message, by its full name.
        case message(String)
    }

    public var name: String
    public var number: Int32
    public var kind: Kind
    public var repeated: Bool
    /// Whether an absent value reads as the kind's default (0, "", false), as a proto3 field without
    /// `optional` and outside a oneof does; false for fields with explicit presence, whose absence is absence.
    public var defaultWhenAbsent: Bool

    public init(name: String, number: Int32, kind: Kind, repeated: Bool = false, defaultWhenAbsent: Bool? = nil) {
        self.name = name
        self.number = number
        self.kind = kind
        self.repeated = repeated
        if let defaultWhenAbsent {
            self.defaultWhenAbsent = defaultWhenAbsent
        } else if case .message = kind {
            self.defaultWhenAbsent = false
        } else {
            self.defaultWhenAbsent = !repeated
        }
    }

    /// The spelling in error messages: `int32`, `string`, `acme.v1.Stage`, …
    var kindText: String {
        switch kind {
        case .int32: "int32"
        case .int64: "int64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .sint32: "sint32"
        case .sint64: "sint64"
        case .fixed32: "fixed32"
        case .fixed64: "fixed64"
        case .sfixed32: "sfixed32"
        case .sfixed64: "sfixed64"
        case .float: "float"
        case .double: "double"
        case .bool: "bool"
        case .string: "string"
        case .bytes: "bytes"
        case .enumeration(let schema): schema.fullName
        case .message(let name): name
        }
    }
}

public struct EnumSchema: Hashable, Sendable {
    public var fullName: String
    /// Value names → numbers.
    public var numbers: [String: Int32]

    public init(fullName: String, numbers: [String: Int32]) {
        self.fullName = fullName
        self.numbers = numbers
    }
}

/// The message types filters may reach into, by full name: the well-known ones (`Struct`, the
/// wrappers) always, and those of the producers' descriptor sets.
public struct PayloadSchemas: Sendable, Hashable {
    public private(set) var messages: [String: MessageSchema]
    /// True once a descriptor set registered a type: from then on a path must be declared by a
    /// registered message (Struct no longer accepts any key by itself; docs/API.md).
    public private(set) var hasDescriptorSets: Bool

    /// Only the well-known types: every path is accepted, answered by `Struct` keys and wrappers.
    public static let wellKnown = PayloadSchemas(messages: WellKnownSchemas.all, hasDescriptorSets: false)

    private init(messages: [String: MessageSchema], hasDescriptorSets: Bool) {
        self.messages = messages
        self.hasDescriptorSets = hasDescriptorSets
    }

    /// The well-known types and `schemas`. A type of the same full name registered twice must be
    /// the same; the well-known ones cannot be redefined.
    public init(registering schemas: [MessageSchema]) throws(PayloadSchemaError) {
        self = .wellKnown
        for schema in schemas { try register(schema) }
    }

    public mutating func register(_ schema: MessageSchema) throws(PayloadSchemaError) {
        if let existing = messages[schema.fullName] {
            if existing == schema { return }
            if WellKnownSchemas.all[schema.fullName] != nil {
                // A descriptor set that includes google/protobuf/*.proto describes the same type.
                return
            }
            throw PayloadSchemaError("message \(schema.fullName) is declared twice, differently")
        }
        messages[schema.fullName] = schema
        hasDescriptorSets = true
    }

    /// Every nested message type a registered type names must be registered too (a descriptor
    /// set written with `--include_imports` has them all).
    public func checkReferences() throws(PayloadSchemaError) {
        for schema in messages.values.sorted(by: { $0.fullName < $1.fullName }) {
            for field in schema.fields.values.sorted(by: { $0.number < $1.number }) {
                if case .message(let name) = field.kind, messages[name] == nil {
                    throw PayloadSchemaError(
                        "field \(field.name) of \(schema.fullName) has type \(name), which no file of the set declares (write the set with protoc --include_imports)")
                }
            }
        }
    }
}

public struct PayloadSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `google.protobuf.Struct`, `Value`, `ListValue` and the wrapper types, as their `.proto` files declare them.
enum WellKnownSchemas {
    static let structName = "google.protobuf.Struct"
    static let valueName = "google.protobuf.Value"
    static let listValueName = "google.protobuf.ListValue"

    static let all: [String: MessageSchema] = {
        var schemas: [MessageSchema] = [
            MessageSchema(fullName: structName, fields: [
                FieldSchema(name: "fields", number: 1, kind: .message("google.protobuf.Struct.FieldsEntry"), repeated: true),
            ]),
            MessageSchema(fullName: "google.protobuf.Struct.FieldsEntry", fields: [
                FieldSchema(name: "key", number: 1, kind: .string),
                FieldSchema(name: "value", number: 2, kind: .message(valueName)),
            ], isMapEntry: true),
            MessageSchema(fullName: valueName, fields: [
                FieldSchema(name: "null_value", number: 1, kind: .enumeration(EnumSchema(fullName: "google.protobuf.NullValue", numbers: ["NULL_VALUE": 0])), defaultWhenAbsent: false),
                FieldSchema(name: "number_value", number: 2, kind: .double, defaultWhenAbsent: false),
                FieldSchema(name: "string_value", number: 3, kind: .string, defaultWhenAbsent: false),
                FieldSchema(name: "bool_value", number: 4, kind: .bool, defaultWhenAbsent: false),
                FieldSchema(name: "struct_value", number: 5, kind: .message(structName)),
                FieldSchema(name: "list_value", number: 6, kind: .message(listValueName)),
            ]),
            MessageSchema(fullName: listValueName, fields: [
                FieldSchema(name: "values", number: 1, kind: .message(valueName), repeated: true),
            ]),
        ]
        let wrappers: [(String, FieldSchema.Kind)] = [
            ("DoubleValue", .double), ("FloatValue", .float), ("Int64Value", .int64), ("UInt64Value", .uint64),
            ("Int32Value", .int32), ("UInt32Value", .uint32), ("BoolValue", .bool), ("StringValue", .string), ("BytesValue", .bytes),
        ]
        for (name, kind) in wrappers {
            schemas.append(MessageSchema(fullName: "google.protobuf." + name, fields: [FieldSchema(name: "value", number: 1, kind: kind)]))
        }
        return Dictionary(uniqueKeysWithValues: schemas.map { ($0.fullName, $0) })
    }()
}
