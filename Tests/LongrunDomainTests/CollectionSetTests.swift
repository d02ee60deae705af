import LongrunDomain
import LongrunTestSupport
import Testing

@Suite("Collection sets: AIP-159 wildcards")
struct CollectionSetTests {
    func collection(_ parent: String) -> CollectionName { try! CollectionName(parent: parent) }

    @Test(arguments: [
        // name, canonical, covered, not covered
        ("tenants/-", "tenants/-/operations", ["tenants/acme", "tenants/globex", "tenants/0"], ["", "tenants/acme/projects/p1", "teams/acme", "tenantsx/acme", "tenant/acme"]),
        ("tenants/-/operations", "tenants/-/operations", ["tenants/acme"], ["", "tenants/acme/projects/p1"]),
        ("tenants/-/projects/-", "tenants/-/projects/-/operations", ["tenants/a/projects/b", "tenants/c/projects/d"], ["tenants/a", "tenants/a/teams/b"]),
        ("tenants/acme/projects/-", "tenants/acme/projects/-/operations", ["tenants/acme/projects/b"],
         ["tenants/globex/projects/b", "tenants/acmex/projects/b", "tenants/acm/projects/b", "tenants/acme/projectsx/b", "tenants/acme/projects/b/teams/c", "tenants/acme"]),
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

    /// ``CollectionSet/matches(_:)`` against a reading of the rule that splits the parent into its
    /// segments, on parents built from a few words so that near misses are common.
    @Test func matchingAgreesWithSplittingTheParentIntoSegments() throws {
        let collections = ["tenants", "projects", "tenantsx"], ids = ["acme", "acm", "b", "0"]
        var generator = SplitMix64(seed: 0xC011)
        func pick(_ words: [String]) -> String { words[Int(generator.next() % UInt64(words.count))] }
        func parent(pairs: Int) -> String { (0..<pairs).map { _ in pick(collections) + "/" + pick(ids) }.joined(separator: "/") }
        for name in ["tenants/-", "tenants/acme/projects/-", "tenants/-/projects/-", "tenants/-/projects/b"] {
            let set = try CollectionSet(listName: name)
            guard case .pattern(let pattern) = set.kind else { Issue.record("\(name) is no pattern"); continue }
            for _ in 0..<2_000 {
                let text = parent(pairs: Int(generator.next() % 4))
                let parts = text.split(separator: "/", omittingEmptySubsequences: false)
                let expected = !text.isEmpty && parts.count == pattern.count * 2 && pattern.enumerated().allSatisfy { index, segment in
                    parts[2 * index] == segment.collection && (segment.id.map { parts[2 * index + 1] == $0 } ?? true)
                }
                #expect(set.matches(collection(text)) == expected, "\(name) and \(text.debugDescription)")
            }
        }
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
