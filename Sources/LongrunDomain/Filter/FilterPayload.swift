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

// MARK: - Matching (scan time)

extension Filter.PayloadRestriction {
    /// False when the payload is absent, its type is not one the path resolved in, or the value is
    /// not there (AIP-160: a traversal that finds nothing is false whatever the operator; its NOT is true).
    func matches(_ record: FilterRecord) -> Bool {
        guard let payload = side == .metadata ? record.metadata : record.response else { return false }
        return Filter.withUTF8(payload.typeURL) { url in
            let name = Filter.typeName(url)
            for resolution in resolutions where resolution.typeName.count == name.count {
                let same = resolution.typeName.withUnsafeBufferPointer { Filter.equal(name, 0, $0) }
                if same {
                    return payload.value.withUnsafeBufferPointer { bytes in matches(resolution, bytes) }
                }
            }
            return false
        }
    }

    func matches(_ resolution: Filter.Resolution, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let present = literal == nil
        return Self.visit(resolution.steps[...], resolution.leaf, bytes, includeDefault: !present, expandLists: !present && op == .has) { value in
            guard let literal else { return true }
            return Self.test(value, op: op, literal: literal, enumLiteral: resolution.enumLiteral)
        }
    }

    /// A value found at the end of a path, still in the payload's bytes.
    enum Found {
        case signed(Int64), unsigned(UInt64), double(Double), bool(Bool), enumeration(Int32)
        case bytes(UnsafeBufferPointer<UInt8>)
        case null, message
    }

    /// Calls `body` with each value at the path until it returns true; whether one did.
    static func visit(_ steps: ArraySlice<Filter.PathStep>, _ leaf: Filter.Leaf, _ bytes: UnsafeBufferPointer<UInt8>,
                      includeDefault: Bool, expandLists: Bool, _ body: (Found) -> Bool) -> Bool {
        guard let step = steps.first else { return visitLeaf(leaf, bytes, includeDefault: includeDefault, expandLists: expandLists, body) }
        var scanner = WireScanner(bytes)
        switch step {
        case .field(let number):
            while let field = scanner.next() {
                guard field.number == number, field.wireType == .lengthDelimited else { continue }
                if visit(steps.dropFirst(), leaf, field.bytes, includeDefault: includeDefault, expandLists: expandLists, body) { return true }
            }
            return false
        case .key(let key):
            // A map entry's key is field 1; the last occurrence counts, as for any singular field.
            var found: UnsafeBufferPointer<UInt8>?
            while let field = scanner.next() {
                if field.number == 1 && field.wireType == .lengthDelimited { found = field.bytes }
            }
            let entryKey = found ?? UnsafeBufferPointer(rebasing: bytes[0..<0])
            let same = entryKey.count == key.count && key.withUnsafeBufferPointer { Filter.equal(entryKey, 0, $0) }
            return same && visit(steps.dropFirst(), leaf, bytes, includeDefault: includeDefault, expandLists: expandLists, body)
        }
    }

    static func visitLeaf(_ leaf: Filter.Leaf, _ bytes: UnsafeBufferPointer<UInt8>, includeDefault: Bool, expandLists: Bool,
                          _ body: (Found) -> Bool) -> Bool {
        var scanner = WireScanner(bytes)
        switch leaf {
        case .message(let number):
            while let field = scanner.next() {
                if field.number == number && field.wireType == .lengthDelimited { return body(.message) }
            }
            return false

        case .dynamicValue:
            var last: Found = .null
            var list: UnsafeBufferPointer<UInt8>?
            while let field = scanner.next() {
                switch (field.number, field.wireType) {
                case (1, .varint): last = .null; list = nil
                case (2, .fixed64): last = .double(Double(bitPattern: field.scalar)); list = nil
                case (3, .lengthDelimited): last = .bytes(field.bytes); list = nil
                case (4, .varint): last = .bool(field.scalar != 0); list = nil
                case (5, .lengthDelimited): last = .message; list = nil
                case (6, .lengthDelimited): last = .message; list = field.bytes
                default: continue
                }
            }
            if let list, expandLists {
                // `key:value` on a list: one of its elements (Values, not followed further) is the value.
                var elements = WireScanner(list)
                while let element = elements.next() {
                    guard element.number == 1, element.wireType == .lengthDelimited else { continue }
                    if visitLeaf(.dynamicValue, element.bytes, includeDefault: includeDefault, expandLists: false, body) { return true }
                }
                return false
            }
            return body(last)

        case .scalar(let number, let kind, let repeated, let defaultWhenAbsent):
            var last: Found?
            while let field = scanner.next() {
                guard field.number == number else { continue }
                if repeated, field.wireType == .lengthDelimited, kind.isPackable {
                    var packed = WireScanner(field.bytes)
                    while let value = packed.element(kind) {
                        if body(value) { return true }
                    }
                    continue
                }
                guard let value = decode(field, kind) else { continue }
                if repeated {
                    if body(value) { return true }
                } else {
                    last = value
                }
            }
            if let last { return body(last) }
            if !repeated, defaultWhenAbsent, includeDefault { return body(kind.defaultValue) }
            return false
        }
    }

    static func decode(_ field: WireScanner.FieldValue, _ kind: FieldSchema.Kind) -> Found? {
        let v = field.scalar
        switch (kind, field.wireType) {
        case (.int32, .varint): return .signed(Int64(Int32(truncatingIfNeeded: v)))
        case (.int64, .varint): return .signed(Int64(bitPattern: v))
        case (.uint32, .varint): return .unsigned(UInt64(UInt32(truncatingIfNeeded: v)))
        case (.uint64, .varint): return .unsigned(v)
        case (.sint32, .varint):
            let u = UInt32(truncatingIfNeeded: v)
            return .signed(Int64(Int32(bitPattern: (u >> 1) ^ (0 &- (u & 1)))))
        case (.sint64, .varint): return .signed(Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1))))
        case (.bool, .varint): return .bool(v != 0)
        case (.enumeration, .varint): return .enumeration(Int32(truncatingIfNeeded: v))
        case (.fixed32, .fixed32): return .unsigned(v)
        case (.sfixed32, .fixed32): return .signed(Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: v))))
        case (.float, .fixed32): return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: v))))
        case (.fixed64, .fixed64): return .unsigned(v)
        case (.sfixed64, .fixed64): return .signed(Int64(bitPattern: v))
        case (.double, .fixed64): return .double(Double(bitPattern: v))
        case (.string, .lengthDelimited), (.bytes, .lengthDelimited): return .bytes(field.bytes)
        default: return nil
        }
    }

    static func test(_ value: Found, op: Filter.Comparator, literal: Filter.PayloadLiteral, enumLiteral: Int32?) -> Bool {
        switch value {
        case .signed(let v):
            if let i = literal.integer { return op.holds(v, i) }
            if literal.unsigned != nil { return op.holds(ordering: -1) }
            if let d = literal.number { return op.holds(Double(v), d) }
            return false
        case .unsigned(let v):
            if let u = literal.unsigned { return op.holds(v, u) }
            if literal.integer != nil { return op.holds(ordering: 1) }  // a negative literal
            if let d = literal.number { return op.holds(Double(v), d) }
            return false
        case .double(let v):
            guard let d = literal.number ?? literal.integer.map({ Double($0) }) else { return false }
            return op.holds(v, d)
        case .enumeration(let v):
            guard let e = enumLiteral else { return false }
            return op.holds(v, e)
        case .bool(let v):
            guard let b = literal.bool, !op.isOrdering else { return false }
            return op == .notEqual ? v != b : v == b
        case .bytes(let bytes):
            switch op {
            case .equal, .has: return literal.pattern.matches(bytes)
            case .notEqual: return !literal.pattern.matches(bytes)
            case .less, .lessOrEqual, .greater, .greaterOrEqual: return op.holds(ordering: Filter.compare(bytes, literal.pattern.bytes))
            }
        case .null:
            guard !literal.quoted, literal.text == "null" else { return false }
            return op == .equal || op == .has
        case .message:
            return false
        }
    }
}

extension FieldSchema.Kind {
    /// Scalars that a repeated field may pack into one length-delimited run.
    var isPackable: Bool {
        switch self {
        case .string, .bytes, .message: false
        default: true
        }
    }

    var defaultValue: Filter.PayloadRestriction.Found {
        switch self {
        case .int32, .int64, .sint32, .sint64, .sfixed32, .sfixed64: .signed(0)
        case .uint32, .uint64, .fixed32, .fixed64: .unsigned(0)
        case .float, .double: .double(0)
        case .bool: .bool(false)
        case .enumeration: .enumeration(0)
        case .string, .bytes: .bytes(UnsafeBufferPointer(start: nil, count: 0))
        case .message: .message
        }
    }
}

extension WireScanner {
    /// The next element of a packed run of `kind`; nil at its end or at a malformed byte.
    mutating func element(_ kind: FieldSchema.Kind) -> Filter.PayloadRestriction.Found? {
        guard index < buffer.count else { return nil }
        let wireType: WireType
        switch kind {
        case .fixed32, .sfixed32, .float: wireType = .fixed32
        case .fixed64, .sfixed64, .double: wireType = .fixed64
        default: wireType = .varint
        }
        guard let scalar = wireType == .varint ? varint() : fixedValue(wireType == .fixed32 ? 4 : 8) else { return nil }
        let field = FieldValue(number: 0, wireType: wireType, scalar: scalar, bytes: UnsafeBufferPointer(start: nil, count: 0))
        return Filter.PayloadRestriction.decode(field, kind)
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
