/// Matching a payload restriction against an operation's payload bytes (scan time): the bytes
/// are read in place along the restriction's path only.
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
