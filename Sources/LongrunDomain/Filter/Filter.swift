/// An AIP-160 filter over operations, as accepted by `ListOperations`.
///
/// ```
/// done = false AND metadata.type = acme.v1.BuildMetadata
/// create_time > "2026-01-01T00:00:00Z" error.code:* -name:"*/tmp-*"
/// ```
///
/// Parsing compiles the text once into a normalized tree whose literals are already converted
/// (timestamps to nanoseconds, code names to numbers, strings to UTF-8 patterns), so ``matches(_:)``
/// does no parsing and no allocation.
///
/// Grammar and semantics (AIP-160, adapted):
/// - fields: `done`, `cancel_requested` (bool); `name` (string); `create_time`, `update_time`,
///   `end_time` (RFC 3339 timestamp in quotes); `error.code` (integer or code name);
///   `metadata.type`, `response.type` (the type name after the URL's last '/', or the full URL
///   when the literal contains '/').
/// - operators `=`, `!=`, `<`, `<=`, `>`, `>=`, and `:` (has): `field:*` tests presence,
///   on strings `:` is `=` with wildcards, otherwise `=`. A `*` at either end of a string value
///   is a wildcard for `=`, `!=` and `:`; string ordering is by code point.
/// - a field without a value (end_time of a running operation, error.code without an error,
///   unset types) satisfies only `!=`.
/// - `AND`, `OR`, `NOT` (uppercase), `-`, parentheses; OR binds tighter than AND; juxtaposed
///   terms are ANDed; a bare boolean field means `= true`.
public struct Filter: Sendable, Hashable, CustomStringConvertible {
    /// The longest accepted filter text, in characters. The canonical form must fit as well.
    public static let maximumLength = 4096
    /// The deepest accepted nesting: parentheses, NOT / '-', and the AND / OR / NOT levels of the
    /// normalized expression each count one level.
    public static let maximumDepth = 32

    /// The filter that matches everything (the empty filter).
    public static let all = Filter(root: nil, canonical: "")

    /// `done = false`, the filter of "what is still running", which an index can answer alone.
    public static let notDone = try! Filter(parsing: "done = false")

    let root: Node?
    private let canonicalText: String
    private let excludesDoneFlag: Bool

    init(root: Node?, canonical: String) {
        self.root = root
        self.canonicalText = canonical
        self.excludesDoneFlag = root?.excludesDone ?? false
    }

    /// Parses and compiles a filter. Empty or all-whitespace text gives ``all``.
    ///
    /// `schemas` are the message types `metadata.<field>` and `response.<field>` resolve in; with
    /// only the well-known ones (the default), any such path is accepted and answered by `Struct`
    /// keys and wrapper values.
    public init(parsing text: String, schemas: PayloadSchemas = .wellKnown) throws(FilterError) {
        if Self.exceedsMaximumLength(text) {
            throw FilterError(
                message: "filter is longer than the maximum of \(Self.maximumLength) characters at column \(Self.maximumLength + 1)",
                column: Self.maximumLength + 1
            )
        }
        var parser = try Parser(Array(text.unicodeScalars), schemas: schemas)
        guard let root = try parser.parseFilter() else {
            self = .all
            return
        }
        var canonical = ""
        root.write(to: &canonical)
        if Self.exceedsMaximumLength(canonical) {
            throw FilterError(
                message: "filter is too long once normalized (longer than the maximum of \(Self.maximumLength) characters) at column 1; "
                    + "shorten it, e.g. by using wildcards or fewer terms",
                column: 1
            )
        }
        self.init(root: root, canonical: canonical)
    }

    /// True for the filter that matches everything.
    public var isEmpty: Bool { root == nil }

    /// Whether the record satisfies the filter.
    public func matches(_ record: FilterRecord) -> Bool {
        guard let root else { return true }
        return root.matches(record)
    }

    /// Normalized text: fully parenthesized, single spaces, `NOT` for `-`, double-quoted strings,
    /// UTC timestamps, numeric codes, `:` written as `=` except for `field:*`. Filters that differ
    /// only textually have equal canonical forms; parsing the canonical form gives it back.
    public var canonical: String { canonicalText }

    public var description: String { canonical }

    /// True when no record with `done == true` can match (e.g. the top-level conjunction contains
    /// `done = false`, `NOT done`, or an OR of such terms). Conservative: false whenever unsure.
    public var excludesDone: Bool { excludesDoneFlag }

    public static func == (lhs: Filter, rhs: Filter) -> Bool {
        lhs.canonicalText == rhs.canonicalText
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonicalText)
    }

    /// Counts characters only as far as needed, so huge inputs are rejected in bounded time.
    static func exceedsMaximumLength(_ text: String) -> Bool {
        if text.utf8.count <= maximumLength { return false }
        return text.index(text.startIndex, offsetBy: maximumLength, limitedBy: text.endIndex).map { $0 < text.endIndex } ?? false
    }
}
