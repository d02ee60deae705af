import LongrunDomain

/// What resource names and request ids must satisfy, for the seeded tests and Tools/fuzz's
/// `fuzz-names`: each parser agrees with a separate, deliberately naive reading of README.md's
/// rules (AIP-122 names, `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$` ids, lowerCamelCase collections), and
/// what it accepts prints back as the text and re-parses to itself.
public enum NameProperties {
    /// Names, near-names and request ids: the seeded tests start from them and
    /// `Tools/fuzz/corpus/names` is written from them.
    public static let seeds: [String] = [
        "", "operations", "operations/", "operations/build-1", "operations/o01jd4x8k2m7c9gq1", "tenants/acme/operations/x",
        "tenants/acme", "tenants/acme/operations", "projects/p1/locations/us-east1/operations/a0-b", "tenants/operations",
        "tenants/operations/operations/x", "tenants/9/operations/z9", "operations/Build", "operations/1abc", "operations/abc-",
        "tenants//operations/x", "/operations/x", "operations/x/operations/y", "a/b/c", "aB9/x/operations/y",
        "operations/" + String(repeating: "a", count: 63), "operations/" + String(repeating: "a", count: 64),
        (1...4).map { "c\($0)/" + String(repeating: "a", count: 60) }.joined(separator: "/") + "/operations/x",
        "0b7b7d9e-6b5a-4b8f-9f3c-2a1d0c9b8a7f", "req 1", "req\u{7F}", "ünï/x/operations/y", "t/0/operations/\u{35C}z",
    ]

    /// A description of the first disagreement with the rules for `text`, or nil.
    public static func violation(_ text: String) -> String? {
        let expected = Reference.name(text)
        do {
            let parsed = try OperationName(parsing: text)
            guard let expected, parsed.collection.parent == expected.parent, parsed.id == expected.id else {
                return "OperationName accepted it as \(parsed.collection.parent.debugDescription) + \(parsed.id.debugDescription); the rules say \(String(describing: expected))"
            }
            guard parsed.description == text, (try? OperationName(parsing: parsed.description)) == parsed,
                  (try? OperationName(collection: parsed.collection, id: parsed.id)) == parsed,
                  (try? CollectionName(listName: parsed.collection.description)) == parsed.collection,
                  (try? CollectionName(parent: parsed.collection.parent)) == parsed.collection
            else { return "the name does not round-trip through its parts" }
        } catch {
            if let expected { return "OperationName rejected it (\(error)); the rules accept \(expected)" }
            if let unexpected = unexpected(error) { return "OperationName: \(unexpected)" }
        }
        if OperationName.isValidID(text) != Reference.id(text[...], digitFirst: false) { return "isValidID disagrees with the rule" }

        let expectedParent = Reference.listName(text)
        do {
            let collection = try CollectionName(listName: text)
            guard collection.parent == expectedParent else {
                return "CollectionName(listName:) read \(collection.parent.debugDescription); the rules say \(String(describing: expectedParent))"
            }
            // A parent that is itself 246 to 256 bytes is accepted although no name in it fits.
            guard collection.description.utf8.count > 256 || (try? CollectionName(listName: collection.description)) == collection,
                  (try? CollectionName(parent: collection.parent)) == collection
            else { return "the collection does not round-trip" }
        } catch {
            if let expectedParent { return "CollectionName(listName:) rejected it (\(error)); the rules give \(expectedParent.debugDescription)" }
            if let unexpected = unexpected(error) { return "CollectionName(listName:): \(unexpected)" }
        }

        let parentValid = text.isEmpty || Reference.parent(text)
        do {
            let collection = try CollectionName(parent: text)
            guard parentValid, collection.parent == text else { return "CollectionName(parent:) accepted it as \(collection.parent.debugDescription)" }
        } catch {
            if parentValid { return "CollectionName(parent:) rejected it: \(error)" }
            if let unexpected = unexpected(error) { return "CollectionName(parent:): \(unexpected)" }
        }

        do {
            try Lifecycle.validateRequestID(text)
            guard Reference.requestID(text) else { return "request id accepted" }
        } catch {
            if Reference.requestID(text) { return "request id rejected: \(error)" }
            if let unexpected = unexpected(error) { return "request id: \(unexpected)" }
        }
        return nil
    }

    /// A rejection must be INVALID_ARGUMENT with a reason.
    private static func unexpected(_ error: DomainError) -> String? {
        error.kind == .invalidArgument && !error.reason.rawValue.isEmpty ? nil : "unexpected \(error)"
    }

    /// The naive reading of the rules, written apart from the parsers to compare them with.
    enum Reference {
        static func isLower(_ c: Character) -> Bool { c.isASCII && c >= "a" && c <= "z" }
        static func isDigit(_ c: Character) -> Bool { c.isASCII && c >= "0" && c <= "9" }
        static func isUpper(_ c: Character) -> Bool { c.isASCII && c >= "A" && c <= "Z" }

        static func id(_ id: Substring, digitFirst: Bool) -> Bool {
            let chars = Array(id)
            guard (1...63).contains(chars.count), chars.count == id.utf8.count else { return false }
            guard isLower(chars[0]) || (digitFirst && isDigit(chars[0])), isLower(chars[chars.count - 1]) || isDigit(chars[chars.count - 1]) else { return false }
            return chars.allSatisfy { isLower($0) || isDigit($0) || $0 == "-" }
        }

        static func collection(_ segment: Substring) -> Bool {
            let chars = Array(segment)
            guard (1...63).contains(chars.count), chars.count == segment.utf8.count, isLower(chars[0]) else { return false }
            return chars.allSatisfy { isLower($0) || isDigit($0) || isUpper($0) }
        }

        /// `collection/id` pairs, `operations` never a collection.
        static func parent(_ parent: String) -> Bool {
            let segments = parent.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count >= 2, segments.count % 2 == 0 else { return false }
            return stride(from: 0, to: segments.count, by: 2).allSatisfy { index in
                collection(segments[index]) && segments[index] != "operations" && id(segments[index + 1], digitFirst: true)
            }
        }

        /// `operations/{id}` or `{parent}/operations/{id}`, at most 256 bytes: the parent and id, or nil.
        static func name(_ text: String) -> (parent: String, id: String)? {
            guard text.utf8.count <= 256 else { return nil }
            let segments = text.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count >= 2, segments[segments.count - 2] == "operations" else { return nil }
            let last = segments[segments.count - 1]
            guard id(last, digitFirst: false) else { return nil }
            let parentText = segments.dropLast(2).joined(separator: "/")
            guard segments.count == 2 || parent(parentText) else { return nil }
            return (parentText, String(last))
        }

        /// A ListOperations name: `""`, `operations`, `{parent}` or `{parent}/operations` (at most 256 bytes).
        static func listName(_ text: String) -> String? {
            if text.isEmpty || text == "operations" { return "" }
            guard text.utf8.count <= 256 else { return nil }
            if text.hasSuffix("/operations") {
                let stripped = String(text.dropLast("/operations".count))
                if parent(stripped) { return stripped }
            }
            return parent(text) ? text : nil
        }

        static func requestID(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= 128 && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        }
    }
}
