import LongrunDomain
import Testing

@Suite("Collection sets: AIP-159 wildcards")
struct CollectionSetTests {
    func collection(_ parent: String) -> CollectionName { try! CollectionName(parent: parent) }

    @Test(arguments: [
        // name, canonical, covered, not covered
        ("tenants/-", "tenants/-/operations", ["tenants/acme", "tenants/globex", "tenants/0"], ["", "tenants/acme/projects/p1", "teams/acme"]),
        ("tenants/-/operations", "tenants/-/operations", ["tenants/acme"], ["", "tenants/acme/projects/p1"]),
        ("tenants/-/projects/-", "tenants/-/projects/-/operations", ["tenants/a/projects/b", "tenants/c/projects/d"], ["tenants/a", "tenants/a/teams/b"]),
        ("tenants/acme/projects/-", "tenants/acme/projects/-/operations", ["tenants/acme/projects/b"], ["tenants/globex/projects/b"]),
        ("-", "-/operations", ["", "tenants/acme", "tenants/acme/projects/p1"], []),
        ("-/operations", "-/operations", ["", "a/b"], []),
        ("tenants/acme", "tenants/acme/operations", ["tenants/acme"], ["tenants/globex", ""]),
        ("", "operations", [""], ["tenants/acme"]),
    ])
    func wildcardsCoverExactlyTheirCollections(_ name: String, _ canonical: String, _ covered: [String], _ others: [String]) throws {
        let set = try CollectionSet(listName: name)
        #expect(set.description == canonical)
        for parent in covered {
            #expect(set.matches(collection(parent)), "\(name) should cover \(parent)")
            #expect(collection(parent).parent.hasPrefix(set.parentPrefix))
        }
        for parent in others { #expect(!set.matches(collection(parent)), "\(name) should not cover \(parent)") }
    }

    @Test(arguments: ["-/acme", "-/acme/operations", "operations/-", "tenants/-/-", "tenants/-/", "Tenants/-", "tenants/-/operations/x", "--", "tenants/--x"])
    func malformedWildcardsAreInvalidNames(_ name: String) {
        #expect {
            try CollectionSet(listName: name)
        } throws: { error in
            (error as? DomainError)?.reason == .invalidName
        }
    }

    @Test func collectionPageTokensAreBoundAndChecked() throws {
        let token = CollectionPageToken(after: "tenants/acme", binding: 42).encoded
        #expect(try CollectionPageToken(decoding: token, expectedBinding: 42).after == "tenants/acme")
        #expect(throws: DomainError.self) { try CollectionPageToken(decoding: token, expectedBinding: 43) }
        #expect(throws: DomainError.self) { try CollectionPageToken(decoding: String(token.dropLast()), expectedBinding: 42) }
        #expect(throws: DomainError.self) { try CollectionPageToken(decoding: PageToken(position: 1, binding: 42).encoded, expectedBinding: 42) }
    }
}
