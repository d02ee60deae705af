// Restrictions that reach inside the metadata or response payload: `metadata.percent_done > 50`.
//
// At parse time the path is resolved against every registered message type (``PayloadSchemas``)
// into wire steps (field numbers, map keys) and a leaf, and the literal is typed once for each
// leaf kind. At match time the payload's type name picks the resolution and ``WireScanner`` walks
// the bytes in place: nothing is decoded unless a payload restriction is evaluated, and nothing
// is allocated when it is.

extension Filter {
    enum PayloadSide: Hashable, Sendable {
        case metadata, response

        var text: String { self == .metadata ? "metadata" : "response" }
    }

    /// One step from a message towards the value.
    enum PathStep: Hashable, Sendable {
        /// Into each occurrence of a length-delimited field (a sub-message).
        case field(UInt64)
        /// Keeps the current map entry only when its key (field 1) is these bytes.
        case key([UInt8])
    }

    enum Leaf: Hashable, Sendable {
        /// A scalar field of the current message.
        case scalar(number: UInt64, kind: FieldSchema.Kind, repeated: Bool, defaultWhenAbsent: Bool)
        /// The current message is a `google.protobuf.Value`: its kind shows only in the bytes.
        case dynamicValue
        /// A message field of the current message: tested for presence only.
        case message(number: UInt64)
    }

    /// The path resolved in one root message type.
    struct Resolution: Hashable, Sendable {
        /// The root type's full name, UTF-8, as it ends the payload's type URL.
        var typeName: [UInt8]
        var steps: [PathStep]
        var leaf: Leaf
        /// The path crosses a repeated field (or ends on one): AIP-160 allows only ':' there.
        var repeated: Bool
        /// The root is `Struct`, `Value` or `ListValue`, which declare any key.
        var schemaless: Bool
        /// For an enum leaf: the literal as a number (a value name converted, or the number written).
        var enumLiteral: Int32?
        /// What the leaf is, for messages: `int32 in acme.v1.BuildMetadata`.
        var description: String
    }

    /// A literal compared with a payload value, typed for each kind it may meet.
    struct PayloadLiteral: Hashable, Sendable {
        var text: String
        var quoted: Bool
        /// Strings and bytes: `*` wildcards for `=`, `!=` and `:`; as written for ordering.
        var pattern: Pattern
        var integer: Int64?
        var unsigned: UInt64?
        var number: Double?
        var bool: Bool?

        init(text: String, quoted: Bool, ordering: Bool) {
            self.text = text
            self.quoted = quoted
            pattern = ordering ? Pattern(literal: text, field: .name) : Pattern(wildcard: text, field: .name)
            integer = Int64(text)
            unsigned = UInt64(text)
            number = Self.isDecimal(text) ? Double(text) : nil
            bool = text == "true" ? true : (text == "false" ? false : nil)
        }

        /// Digits with an optional sign, point and exponent (Double(_:) alone also takes "nan", "inf" and hex).
        static func isDecimal(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            }
        }
    }

    struct PayloadRestriction: Hashable, Sendable {
        var side: PayloadSide
        /// As written: `metadata.percent_done`.
        var path: String
        var op: Comparator
        /// nil for `path:*` (presence).
        var literal: PayloadLiteral?
        var resolutions: [Resolution]
    }
}

// MARK: - Resolution (parse time)

extension Filter {
    /// The longest accepted path, in segments after `metadata.` / `response.`: the wire walk
    /// recurses once per step, so this bounds its stack whatever the filter.
    static let maximumPayloadSegments = 32

    /// Resolves `segments` in every registered type that declares them.
    static func resolve(_ segments: [String], in schemas: PayloadSchemas) -> [Resolution] {
        var resolutions: [Resolution] = []
        for schema in schemas.messages.values where !schema.isMapEntry {
            var walk = PathWalk(schemas: schemas, root: schema.fullName)
            guard walk.walk(segments[...], message: schema) else { continue }
            resolutions.append(Resolution(
                typeName: Array(schema.fullName.utf8), steps: walk.steps, leaf: walk.leaf!, repeated: walk.repeated,
                schemaless: WellKnownSchemas.isSchemaless(schema.fullName), enumLiteral: nil, description: walk.description
            ))
        }
        // The same order whatever the dictionary's: error messages name the first.
        return resolutions.sorted { $0.typeName.lexicographicallyPrecedes($1.typeName) }
    }

    private struct PathWalk {
        let schemas: PayloadSchemas
        let root: String
        var steps: [PathStep] = []
        var leaf: Leaf?
        var repeated = false
        var description = ""

        init(schemas: PayloadSchemas, root: String) {
            self.schemas = schemas
            self.root = root
        }

        /// Walks `segments` from `message`; false when the path leaves what the types declare.
        mutating func walk(_ segments: ArraySlice<String>, message: MessageSchema) -> Bool {
            guard let segment = segments.first else { return false }
            let rest = segments.dropFirst()
            switch message.fullName {
            case WellKnownSchemas.structName:
                // Any key: the entry of `fields` with that key, then its Value.
                steps += [.field(1), .key(Array(segment.utf8)), .field(2)]
                return walkValue(rest)
            case WellKnownSchemas.valueName:
                steps.append(.field(5))
                guard let structSchema = schemas.messages[WellKnownSchemas.structName] else { return false }
                return walk(segments, message: structSchema)
            default:
                break
            }
            if message.isMapEntry {
                steps.append(.key(Array(segment.utf8)))
                guard let value = message.fields["value"] else { return false }
                return walkField(value, rest, in: message)
            }
            guard let field = message.fields[segment] else { return false }
            return walkField(field, rest, in: message)
        }

        mutating func walkValue(_ rest: ArraySlice<String>) -> Bool {
            if rest.isEmpty {
                leaf = .dynamicValue
                description = "a Struct value in \(root)"
                return true
            }
            guard let value = schemas.messages[WellKnownSchemas.valueName] else { return false }
            return walk(rest, message: value)
        }

        mutating func walkField(_ field: FieldSchema, _ rest: ArraySlice<String>, in message: MessageSchema) -> Bool {
            let number = UInt64(UInt32(bitPattern: field.number))
            if case .message(let name) = field.kind {
                guard let nested = schemas.messages[name] else { return false }
                if !nested.isMapEntry && field.repeated { repeated = true }
                if nested.fullName == WellKnownSchemas.valueName && !field.repeated {
                    steps.append(.field(number))
                    return walkValue(rest)
                }
                if rest.isEmpty {
                    leaf = .message(number: number)
                    description = "a message (\(name)) in \(root)"
                    return true
                }
                steps.append(.field(number))
                return walk(rest, message: nested)
            }
            guard rest.isEmpty else { return false }
            if field.repeated { repeated = true }
            leaf = .scalar(number: number, kind: field.kind, repeated: field.repeated, defaultWhenAbsent: field.defaultWhenAbsent)
            description = (field.repeated ? "repeated " : "") + field.kindText + " in \(root)"
            return true
        }
    }
}

extension WellKnownSchemas {
    static func isSchemaless(_ name: String) -> Bool {
        name == structName || name == valueName || name == listValueName
    }
}

extension Filter.Parser {
    /// `metadata.a.b <op> value` (or `:*`): the path resolved in the registered types, the literal
    /// checked against what it resolved to.
    mutating func payloadRestriction(_ subject: Filter.Token, side: Filter.PayloadSide, opToken: Filter.Token, op: Filter.Comparator) throws(FilterError) -> Parsed {
        let path = subject.text
        let segments = path.split(separator: ".", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if segments.contains(where: \.isEmpty) {
            throw error("invalid field \(Filter.quoteForMessage(path))", at: subject.start, "a path is field names joined by single dots, e.g. \(side.text).stage")
        }
        if segments.count > Filter.maximumPayloadSegments {
            throw error("field \(Filter.quoteForMessage(path)) is deeper than the maximum of \(Filter.maximumPayloadSegments) levels", at: subject.start)
        }
        try advance()
        let value = try parseValue(after: opToken)
        let present = op == .has && value.text == "*" && !value.quoted
        let literal = present ? nil : Filter.PayloadLiteral(text: value.text, quoted: value.quoted, ordering: op.isOrdering)
        let all = Filter.resolve(segments, in: schemas)
        let declared = schemas.hasDescriptorSets ? all.filter { !$0.schemaless } : all
        guard !declared.isEmpty else {
            let hint = schemas.hasDescriptorSets
                ? "no registered message type declares \(segments.joined(separator: ".")); start longrund with --descriptor-set naming the producer's descriptor set"
                : "no registered message type declares it"
            throw error("unknown field \(Filter.quoteForMessage(path))", at: subject.start, hint)
        }
        var problem: (mismatch: Mismatch, at: Int)?
        var accepted: [Filter.Resolution] = []
        for var resolution in all {
            switch Self.check(resolution, op: op, literal: literal, path: path) {
            case .success(let enumLiteral):
                resolution.enumLiteral = enumLiteral
                accepted.append(resolution)
            case .failure(let reason):
                if problem == nil && (!schemas.hasDescriptorSets || !resolution.schemaless) {
                    problem = (reason, reason.atOperator ? opToken.start : value.start)
                }
            }
        }
        let acceptedDeclared = schemas.hasDescriptorSets ? accepted.filter { !$0.schemaless } : accepted
        if acceptedDeclared.isEmpty, let problem {
            throw error(problem.mismatch.message, at: problem.at, problem.mismatch.hint)
        }
        let restriction = Filter.PayloadRestriction(side: side, path: path, op: op, literal: literal, resolutions: accepted)
        return Parsed(node: .payload(restriction), depth: 0, start: subject.start)
    }

    struct Mismatch: Error {
        var message: String
        var atOperator: Bool
        var hint: String? = nil
    }

    /// Whether the comparison makes sense for what the path resolved to; the enum literal as a number.
    static func check(_ resolution: Filter.Resolution, op: Filter.Comparator, literal: Filter.PayloadLiteral?, path: String) -> Result<Int32?, Mismatch> {
        guard let literal else { return .success(nil) }
        let what = "\(path) is \(resolution.description)"
        if resolution.repeated && op != .has {
            return .failure(Mismatch(message: "operator '\(op.text)' cannot be used with \(path)", atOperator: true)
                .with(hint: "\(what): test its elements with ':', e.g. \(path):\(literal.quoted ? "\"\(literal.text)\"" : literal.text)"))
        }
        let shown = Filter.quoteForMessage(literal.text)
        switch resolution.leaf {
        case .dynamicValue:
            return .success(nil)
        case .message:
            return .failure(Mismatch(message: "invalid value \(shown) for \(path)", atOperator: false)
                .with(hint: "\(what): only \(path):* (is it set) tests it"))
        case .scalar(_, let kind, _, _):
            switch kind {
            case .string, .bytes:
                return .success(nil)
            case .bool:
                if op.isOrdering {
                    return .failure(Mismatch(message: "operator '\(op.text)' cannot be used with \(path)", atOperator: true).with(hint: "\(what): use = or !="))
                }
                guard literal.bool != nil else {
                    return .failure(Mismatch(message: "invalid value \(shown) for \(path)", atOperator: false).with(hint: "\(what): expected true or false"))
                }
                return .success(nil)
            case .enumeration(let schema):
                if let number = schema.numbers[literal.text] { return .success(number) }
                if let number = literal.integer.flatMap({ Int32(exactly: $0) }) { return .success(number) }
                let names = schema.numbers.sorted { $0.value < $1.value }.prefix(8).map(\.key).joined(separator: ", ")
                return .failure(Mismatch(message: "invalid value \(shown) for \(path)", atOperator: false)
                    .with(hint: "\(what): expected a value name (\(names)) or number"))
            case .message:
                return .success(nil)  // not a scalar leaf
            default:
                guard literal.number != nil || literal.integer != nil || literal.unsigned != nil else {
                    return .failure(Mismatch(message: "invalid value \(shown) for \(path)", atOperator: false).with(hint: "\(what): expected a number"))
                }
                return .success(nil)
            }
        }
    }
}

private extension Filter.Parser.Mismatch {
    func with(hint: String) -> Self {
        Self(message: message, atOperator: atOperator, hint: hint)
    }
}

// MARK: - Canonical text

extension Filter.PayloadRestriction {
    func write(to out: inout String) {
        guard let literal else {
            out += path + ":*"
            return
        }
        out += path + (op == .has ? ":" : " " + op.text + " ")
        if literal.quoted {
            Filter.writeQuoted(literal.text, to: &out)
        } else {
            out += literal.text
        }
    }
}
