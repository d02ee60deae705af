// libFuzzer target: resource names (operation names, collection names and parents) and request ids,
// the identifiers every RPC takes from its caller.
//
// Each parser is checked against a separate, deliberately naive reading of the rules in README.md
// (AIP-122 names, `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$` ids, lowerCamelCase collections): both must
// accept the same texts, and what is accepted must print back as the text and re-parse to itself.
@testable import LongrunDomain

private func fail(_ message: String) -> Never {
    fatalError(message)
}

// MARK: The reference reading

private func isLower(_ c: Character) -> Bool { c >= "a" && c <= "z" && c.isASCII }
private func isDigit(_ c: Character) -> Bool { c >= "0" && c <= "9" && c.isASCII }
private func isUpper(_ c: Character) -> Bool { c >= "A" && c <= "Z" && c.isASCII }

private func referenceID(_ id: Substring, digitFirst: Bool) -> Bool {
    let chars = Array(id)
    guard (1...63).contains(chars.count), chars.count == id.utf8.count else { return false }
    guard isLower(chars[0]) || (digitFirst && isDigit(chars[0])) else { return false }
    guard isLower(chars[chars.count - 1]) || isDigit(chars[chars.count - 1]) else { return false }
    return chars.allSatisfy { isLower($0) || isDigit($0) || $0 == "-" }
}

private func referenceCollection(_ segment: Substring) -> Bool {
    let chars = Array(segment)
    guard (1...63).contains(chars.count), chars.count == segment.utf8.count, isLower(chars[0]) else { return false }
    return chars.allSatisfy { isLower($0) || isDigit($0) || isUpper($0) }
}

/// `collection/id` pairs, `operations` never a collection.
private func referenceParent(_ parent: String) -> Bool {
    let segments = parent.split(separator: "/", omittingEmptySubsequences: false)
    guard segments.count >= 2, segments.count % 2 == 0 else { return false }
    return stride(from: 0, to: segments.count, by: 2).allSatisfy { index in
        referenceCollection(segments[index]) && segments[index] != "operations" && referenceID(segments[index + 1], digitFirst: true)
    }
}

/// `operations/{id}` or `{parent}/operations/{id}`, at most 256 bytes: the parent and id, or nil.
private func referenceName(_ text: String) -> (parent: String, id: String)? {
    guard text.utf8.count <= 256 else { return nil }
    let segments = text.split(separator: "/", omittingEmptySubsequences: false)
    guard segments.count >= 2, segments[segments.count - 2] == "operations" else { return nil }
    let id = segments[segments.count - 1]
    guard referenceID(id, digitFirst: false) else { return nil }
    let parent = segments.dropLast(2).joined(separator: "/")
    guard segments.count == 2 || referenceParent(parent) else { return nil }
    return (parent, String(id))
}

/// A ListOperations name: `""`, `operations`, `{parent}` or `{parent}/operations` (at most 256 bytes).
private func referenceListName(_ text: String) -> String? {
    if text.isEmpty || text == "operations" { return "" }
    guard text.utf8.count <= 256 else { return nil }
    if text.hasSuffix("/operations") {
        let parent = String(text.dropLast("/operations".count))
        if referenceParent(parent) { return parent }
    }
    return referenceParent(text) ? text : nil
}

private func referenceRequestID(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= 128 && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
}

// MARK: The checks

private func expectInvalidArgument(_ error: DomainError, _ what: String, _ text: String) {
    guard error.kind == .invalidArgument, !error.reason.rawValue.isEmpty else { fail("\(what) \(text.debugDescription): unexpected \(error)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    // Operation names.
    let expected = referenceName(text)
    do {
        let name = try OperationName(parsing: text)
        guard let expected, name.collection.parent == expected.parent, name.id == expected.id else {
            fail("OperationName accepted \(text.debugDescription) as \(name.collection.parent.debugDescription) + \(name.id.debugDescription); the rules say \(String(describing: expected))")
        }
        guard name.description == text, (try? OperationName(parsing: name.description)) == name,
              (try? OperationName(collection: name.collection, id: name.id)) == name,
              (try? CollectionName(listName: name.collection.description)) == name.collection,
              (try? CollectionName(parent: name.collection.parent)) == name.collection
        else { fail("\(text.debugDescription) does not round-trip through its parts") }
    } catch {
        if let expected { fail("OperationName rejected \(text.debugDescription) (\(error)); the rules accept it as \(expected)") }
        expectInvalidArgument(error, "OperationName", text)
    }

    // Ids alone.
    guard OperationName.isValidID(text) == referenceID(text[...], digitFirst: false) else {
        fail("isValidID(\(text.debugDescription)) disagrees with the rule")
    }

    // ListOperations names.
    let expectedParent = referenceListName(text)
    do {
        let collection = try CollectionName(listName: text)
        guard collection.parent == expectedParent else {
            fail("CollectionName(listName:) read \(text.debugDescription) as \(collection.parent.debugDescription); the rules say \(String(describing: expectedParent))")
        }
        // A parent that is itself 246 to 256 bytes is accepted although no name in it fits.
        guard collection.description.utf8.count > 256 || (try? CollectionName(listName: collection.description)) == collection,
              (try? CollectionName(parent: collection.parent)) == collection
        else { fail("collection \(text.debugDescription) does not round-trip") }
    } catch {
        if let expectedParent { fail("CollectionName(listName:) rejected \(text.debugDescription) (\(error)); the rules give \(expectedParent.debugDescription)") }
        expectInvalidArgument(error, "CollectionName(listName:)", text)
    }

    // CreateOperation parents.
    let parentValid = text.isEmpty || referenceParent(text)
    do {
        let collection = try CollectionName(parent: text)
        guard parentValid, collection.parent == text else { fail("CollectionName(parent:) accepted \(text.debugDescription)") }
    } catch {
        if parentValid { fail("CollectionName(parent:) rejected \(text.debugDescription): \(error)") }
        expectInvalidArgument(error, "CollectionName(parent:)", text)
    }

    // Request ids.
    do {
        try Lifecycle.validateRequestID(text)
        guard referenceRequestID(text) else { fail("request id \(text.debugDescription) accepted") }
    } catch {
        if referenceRequestID(text) { fail("request id \(text.debugDescription) rejected: \(error)") }
        expectInvalidArgument(error, "request id", text)
    }
    return 0
}
