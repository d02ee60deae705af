/// The collections one read covers (ListOperations, WatchOperations): one collection, or several
/// named with AIP-159's wildcard `-`.
///
/// - `tenants/-` (or `tenants/-/operations`): a `-` in place of an id of the parent matches any
///   one id there, so this covers every `tenants/{id}/operations` collection and nothing nested
///   deeper or shallower (`tenants/acme/projects/p1/operations` is not in it). Several ids may be
///   `-` (`tenants/-/projects/-`); collection words are never wildcards.
/// - `-` (or `-/operations`): every collection of the store, at any depth, the root included.
///   The root collection has no parent whose id could be `-`, so AIP-159 has no spelling for
///   "every collection"; this is Longrun's: the whole parent is the wildcard.
///
/// The rule of which collections a name covers lives here alone; backends ask ``matches(_:)``, or
/// ``matches(parent:)`` with a parent's bytes.
public struct CollectionSet: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Exactly one collection.
        case one(CollectionName)
        /// The parents of exactly these segments, where a nil id matches any id.
        case pattern([Segment])
        /// Every collection.
        case all
    }

    public struct Segment: Hashable, Sendable {
        public var collection: String
        /// nil: `-`, any id.
        public var id: String?
    }

    public let kind: Kind

    public init(_ collection: CollectionName) { kind = .one(collection) }

    public static let all = CollectionSet(kind: .all)

    private init(kind: Kind) { self.kind = kind }

    /// Parses the `name` of a ListOperations or WatchOperations request: a collection as
    /// ``CollectionName/init(listName:)`` takes it, or one with wildcards (above).
    public init(listName: String) throws(DomainError) {
        if listName == "-" || listName == "-/operations" {
            kind = .all
            return
        }
        let segments = listName.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.contains("-") else {
            kind = .one(try CollectionName(listName: listName))
            return
        }
        guard listName.utf8.count <= OperationName.maximumLength else {
            throw OperationName.invalid(listName, "is longer than \(OperationName.maximumLength) bytes")
        }
        // With a wildcard, `{parent}` or `{parent}/operations`: as for one collection, the parent
        // is collection/id pairs, so the two readings differ in parity and at most one holds.
        var parentSegments = Array(segments)
        if parentSegments.count % 2 == 1, parentSegments.last == "operations" { parentSegments.removeLast() }
        var pattern: [Segment] = []
        var concrete: [Substring] = []
        for index in stride(from: 0, to: parentSegments.count - 1, by: 2) {
            let collection = parentSegments[index]
            let id = parentSegments[index + 1]
            guard collection != "-" else {
                throw OperationName.invalid(listName, "has '-' in place of a collection: only ids may be '-' (tenants/-), or the whole parent ('-' for every collection)")
            }
            concrete.append(collection)
            concrete.append(id == "-" ? "x" : id)
            pattern.append(Segment(collection: String(collection), id: id == "-" ? nil : String(id)))
        }
        guard parentSegments.count % 2 == 0 else {
            throw OperationName.invalid(listName, "its parent must be collection/id pairs such as tenants/- or tenants/acme")
        }
        // The other segments follow the rules of a parent: check them with `-` replaced by an id.
        try OperationName.validateParent(concrete.joined(separator: "/"), whole: listName)
        kind = .pattern(pattern)
    }

    /// The one collection, when there are no wildcards.
    public var single: CollectionName? {
        if case .one(let collection) = kind { return collection }
        return nil
    }

    /// Whether `collection` is one of this set's.
    public func matches(_ collection: CollectionName) -> Bool {
        var parent = collection.parent
        return parent.withUTF8 { matches(parent: UnsafeRawBufferPointer($0)) }
    }

    /// ``matches(_:)`` for a collection given by its parent's UTF-8 bytes (as a store's keys hold
    /// it), compared segment by segment without building a name or splitting it into strings: a
    /// List page across a wildcard asks it of every collection and operation it examines.
    public func matches(parent: UnsafeRawBufferPointer) -> Bool {
        switch kind {
        case .all: return true
        case .one(let one): return Self.equal(one.parent, parent[...])
        case .pattern(let pattern):
            guard !parent.isEmpty else { return false }
            var start = 0
            var segments = 0
            while true {
                let end = parent[start...].firstIndex(of: UInt8(ascii: "/")) ?? parent.endIndex
                guard segments < pattern.count * 2 else { return false }
                let segment = pattern[segments / 2]
                if segments % 2 == 0 {
                    guard Self.equal(segment.collection, parent[start..<end]) else { return false }
                } else if let id = segment.id {
                    guard Self.equal(id, parent[start..<end]) else { return false }
                }
                segments += 1
                guard end < parent.endIndex else { break }
                start = end + 1
            }
            return segments == pattern.count * 2
        }
    }

    /// Whether `text`'s UTF-8 bytes are `bytes`.
    private static func equal(_ text: String, _ bytes: Slice<UnsafeRawBufferPointer>) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            guard utf8.count == bytes.count else { return false }
            for offset in 0..<utf8.count where utf8[offset] != bytes[bytes.startIndex + offset] { return false }
            return true
        }
    }

    /// The longest text every matching parent starts with (`tenants/` for `tenants/-`, `""` for
    /// every collection): where a backend ordered by parent starts looking.
    public var parentPrefix: String {
        switch kind {
        case .all: return ""
        case .one(let one): return one.parent
        case .pattern(let pattern):
            var prefix = ""
            for segment in pattern {
                prefix += segment.collection + "/"
                guard let id = segment.id else { return prefix }
                prefix += id + "/"
            }
            return prefix
        }
    }

    /// A SQL `LIKE` pattern over collection names (`tenants/%/operations`) that every collection of
    /// the set matches, and possibly others (`%` also matches a `/`): a prefilter, never the rule.
    /// Names hold no `%` or `_`, so nothing needs escaping.
    public var likePattern: String {
        switch kind {
        case .all: return "%"
        case .one(let one): return one.description
        case .pattern(let pattern):
            return pattern.map { $0.collection + "/" + ($0.id ?? "%") }.joined(separator: "/") + "/operations"
        }
    }

    /// The canonical name: `tenants/-/operations`, `-/operations`, or the collection's.
    public var description: String {
        switch kind {
        case .all: return "-/operations"
        case .one(let one): return one.description
        case .pattern(let pattern):
            return pattern.map { $0.collection + "/" + ($0.id ?? "-") }.joined(separator: "/") + "/operations"
        }
    }
}
