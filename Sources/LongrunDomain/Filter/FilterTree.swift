// The compiled form of a filter: a normalized tree whose leaves carry precomputed literals
// (nanoseconds, codes, UTF-8 bytes of string patterns), so matching never parses or allocates.

extension Filter {
    /// The fields a filter may name.
    enum Field: CaseIterable, Hashable, Sendable {
        case done, name, createTime, updateTime, endTime, errorCode, cancelRequested, metadataType, responseType

        enum Kind: Sendable {
            case bool, string, typeURL, timestamp, code
        }

        /// The spelling used in filter text.
        var text: String {
            switch self {
            case .done: "done"
            case .name: "name"
            case .createTime: "create_time"
            case .updateTime: "update_time"
            case .endTime: "end_time"
            case .errorCode: "error.code"
            case .cancelRequested: "cancel_requested"
            case .metadataType: "metadata.type"
            case .responseType: "response.type"
            }
        }

        var kind: Kind {
            switch self {
            case .done, .cancelRequested: .bool
            case .name: .string
            case .metadataType, .responseType: .typeURL
            case .createTime, .updateTime, .endTime: .timestamp
            case .errorCode: .code
            }
        }

        init?(text: String) {
            guard let field = Self.allCases.first(where: { $0.text == text }) else { return nil }
            self = field
        }

        static let listing = allCases.map(\.text).joined(separator: ", ")
    }

    /// A comparison operator as written.
    enum Comparator: Hashable, Sendable {
        case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual, has

        var text: String {
            switch self {
            case .equal: "="
            case .notEqual: "!="
            case .less: "<"
            case .lessOrEqual: "<="
            case .greater: ">"
            case .greaterOrEqual: ">="
            case .has: ":"
            }
        }

        var isOrdering: Bool {
            switch self {
            case .less, .lessOrEqual, .greater, .greaterOrEqual: true
            case .equal, .notEqual, .has: false
            }
        }

        /// `:` on a non-wildcard value means `=`.
        var normalized: Comparator { self == .has ? .equal : self }

        @inline(__always)
        func holds<T: Comparable>(_ lhs: T, _ rhs: T) -> Bool {
            switch self {
            case .equal, .has: lhs == rhs
            case .notEqual: lhs != rhs
            case .less: lhs < rhs
            case .lessOrEqual: lhs <= rhs
            case .greater: lhs > rhs
            case .greaterOrEqual: lhs >= rhs
            }
        }

        /// Applies the operator to a three-way comparison result (-1, 0, 1).
        @inline(__always)
        func holds(ordering: Int) -> Bool {
            holds(ordering, 0)
        }
    }

    /// A string literal compiled for matching: `*` at either end is a wildcard (not stored in `core`).
    struct Pattern: Hashable, Sendable {
        enum Anchor: Hashable, Sendable {
            case exact, prefix, suffix, contains, any
        }

        var core: String
        var bytes: [UInt8]
        var anchor: Anchor
        /// For type fields: compare against the whole type URL (the literal contains '/')
        /// instead of the type name after the URL's last '/'.
        var fullURL: Bool

        /// A wildcard pattern from a literal value.
        init(wildcard value: String, field: Field) {
            var scalars = Substring(value).unicodeScalars[...]
            let leading = scalars.first == "*"
            if leading { scalars = scalars.dropFirst() }
            let trailing = scalars.last == "*"
            if trailing { scalars = scalars.dropLast() }
            let core = String(scalars)
            switch (leading, trailing) {
            case _ where core.isEmpty && (leading || trailing): anchor = .any
            case (false, false): anchor = .exact
            case (false, true): anchor = .prefix
            case (true, false): anchor = .suffix
            case (true, true): anchor = .contains
            }
            self.core = core
            self.bytes = Array(core.utf8)
            self.fullURL = field.kind == .typeURL && value.utf8.contains(UInt8(ascii: "/"))
        }

        /// A literal compared as is (ordering operators), stars included.
        init(literal value: String, field: Field) {
            core = value
            bytes = Array(value.utf8)
            anchor = .exact
            fullURL = field.kind == .typeURL && value.utf8.contains(UInt8(ascii: "/"))
        }

        /// The literal as it is written back, wildcards included.
        var text: String {
            switch anchor {
            case .exact: core
            case .prefix: core + "*"
            case .suffix: "*" + core
            case .contains: "*" + core + "*"
            case .any: "*"
            }
        }
    }

    /// What a restriction tests of its field's value.
    enum Test: Hashable, Sendable {
        /// `field:*`: the value is set.
        case present
        /// Booleans: `= v` (and `!= v` stored as `= !v`).
        case boolEquals(Bool)
        /// Timestamps, in nanoseconds since the epoch.
        case time(Comparator, Int64)
        /// `error.code`.
        case code(Comparator, Int32)
        /// Strings with `=`, `:` (negated: `!=`), wildcards allowed.
        case match(Pattern, negated: Bool)
        /// Strings with `<`, `<=`, `>`, `>=`: byte-wise (code point) order of UTF-8.
        case order(Comparator, Pattern)

        /// The result when the field has no value: only "not equal" holds.
        var whenAbsent: Bool {
            switch self {
            case .present, .boolEquals, .order: false
            case .time(let op, _): op == .notEqual
            case .code(let op, _): op == .notEqual
            case .match(_, let negated): negated
            }
        }
    }

    struct Restriction: Hashable, Sendable {
        var field: Field
        var test: Test
    }

    /// The normalized tree: AND and OR are n-ary with at least two children, never nested in
    /// themselves (`a AND (b AND c)` is flattened), redundant parentheses are gone.
    indirect enum Node: Hashable, Sendable {
        case and([Node])
        case or([Node])
        case not(Node)
        case restriction(Restriction)
        /// A field inside the metadata or response payload.
        case payload(PayloadRestriction)

        var isJunction: Bool {
            switch self {
            case .and, .or: true
            case .not, .restriction, .payload: false
            }
        }
    }
}
