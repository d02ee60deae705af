@testable import LongrunDomain
import Testing

@Suite("Names, ids, page tokens and timestamps")
struct NameTests {
    @Test(arguments: [
        ("operations/build-1", "", "build-1"),
        ("tenants/acme/operations/x", "tenants/acme", "x"),
        ("projects/p1/locations/us-east1/operations/a0-b", "projects/p1/locations/us-east1", "a0-b"),
    ])
    func validNamesParse(_ text: String, _ parent: String, _ id: String) throws {
        let name = try OperationName(parsing: text)
        #expect(name.collection.parent == parent)
        #expect(name.id == id)
        #expect(name.description == text)
    }

    /// A scan reads each stored record's parent from its name's shape alone: for every valid name
    /// it is the parent that parsing finds; a shape without `operations/` before the id has none.
    @Test func aStoredNamesParentIsTheOneParsingFinds() throws {
        for text in ["operations/build-1", "tenants/acme/operations/x", "projects/p1/locations/us-east1/operations/a0-b",
                     "tenants/operations-x/operations/y"] {
            let parent = text.utf8.withContiguousStorageIfAvailable { bytes in
                OperationName.parent(ofStored: UnsafeRawBufferPointer(bytes)).map { String(decoding: $0, as: UTF8.self) }
            }
            #expect(parent == .some(try OperationName(parsing: text).collection.parent), "\(text)")
        }
        for text in ["", "operations", "xoperations/x", "/operations/x", "tenants/acme/operation/x", "tenants/acmeoperations/x", "ops/x"] {
            let found = text.utf8.withContiguousStorageIfAvailable { OperationName.parent(ofStored: UnsafeRawBufferPointer($0)) != nil }
            #expect(found == false, "\(text)")
        }
    }

    /// A name read back from a checksummed record is taken by its shape: for every valid name it
    /// is the name parsing gives; a shape without `operations/` before the id is none; a name of
    /// the right shape that breaks a rule is taken as it is (the scrub, which parses, finds it).
    @Test func aStoredNameIsTheOneParsingGives() throws {
        func stored(_ text: String) -> OperationName? {
            text.utf8.withContiguousStorageIfAvailable { OperationName(stored: UnsafeRawBufferPointer($0)) } ?? nil
        }
        for text in ["operations/build-1", "tenants/acme/operations/x", "projects/p1/locations/us-east1/operations/a0-b"] {
            let parsed = try OperationName(parsing: text)
            #expect(stored(text) == parsed, "\(text)")
            #expect(stored(text)?.collection == parsed.collection, "\(text)")
        }
        for text in ["", "operations", "xoperations/x", "/operations/x", "tenants/acme/operation/x", "ops/x",
                     "operations/" + String(repeating: "a", count: 250)] {
            #expect(stored(text) == nil, "\(text)")
        }
        #expect(stored("Tenants/a/operations/Op-1")?.collection.parent == "Tenants/a")
    }

    @Test(arguments: [
        "", "operations", "operations/", "operations/Build", "operations/1abc", "operations/abc-", "operations/a_b",
        "ops/x", "tenants/operations/x", "tenants//operations/x", "Tenants/a/operations/x", "operations/x/operations/y",
        "tenants/acme/operations/x/y", "/operations/x", "operations/" + String(repeating: "a", count: 64),
        // 262 bytes: over the 256-byte limit although every segment is valid.
        (1...4).map { "c\($0)/" + String(repeating: "a", count: 60) }.joined(separator: "/") + "/operations/x",
    ])
    func malformedNamesAreInvalidArgument(_ text: String) {
        #expect {
            try OperationName(parsing: text)
        } throws: { error in
            (error as? DomainError)?.kind == .invalidArgument
        }
    }

    @Test func everyByteIsAcceptedInsideAnIDExactlyWhenTheRuleSaysSo() {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-".utf8)
        for byte in UInt8.min...UInt8.max {
            // In the operation's id, and in the parent's.
            for bytes in [Array("operations/a".utf8) + [byte] + Array("z".utf8),
                          Array("tenants/a".utf8) + [byte] + Array("z/operations/x".utf8)] {
                let accepted = bytes.withUnsafeBytes { OperationName.validatedParentLength($0) } != nil
                #expect(accepted == allowed.contains(byte), "byte \(byte) in \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }

    @Test func theLongestValidIDIsAccepted() throws {
        let id = "a" + String(repeating: "0", count: 61) + "z"
        #expect(OperationName.isValidID(id))
        #expect(!OperationName.isValidID(id + "z"))
    }

    @Test(arguments: [
        ("", ""), ("operations", ""), ("tenants/acme", "tenants/acme"), ("tenants/acme/operations", "tenants/acme"),
    ])
    func listNamesResolveToACollection(_ listName: String, _ parent: String) throws {
        #expect(try CollectionName(listName: listName).parent == parent)
    }

    @Test(arguments: ["operations/x", "tenants", "tenants/acme/things", "tenants/ACME"])
    func listNamesThatAreNotCollectionsAreInvalid(_ listName: String) {
        #expect(throws: DomainError.self) { try CollectionName(listName: listName) }
    }

    @Test func generatedIDsAreValidUniqueAndTimeOrderedEvenWhenTheClockStepsBack() {
        var generator = OperationIDGenerator()
        var previous = ""
        var seen = Set<String>()
        let base = Timestamp(seconds: 1_800_000_000)
        let times = (0..<2000).map { index in base + .milliseconds(index / 7 - (index % 100 == 0 ? 50 : 0)) }
        for (index, time) in times.enumerated() {
            let id = generator.next(now: time, random: UInt32(truncatingIfNeeded: index &* 2_654_435_761))
            #expect(OperationName.isValidID(id), "\(id)")
            #expect(id > previous, "\(id) should sort after \(previous)")
            #expect(seen.insert(id).inserted)
            previous = id
        }
    }

    @Test func pageTokensRoundTripAndAreURLSafe() throws {
        let token = PageToken(position: 123_456_789, binding: PageToken.binding("operations", "done = false"))
        let text = token.encoded
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(try PageToken(decoding: text, expectedBinding: token.binding) == token)
    }

    @Test func aTokenFromAnotherFilterOrCollectionIsRefused() {
        let text = PageToken(position: 5, binding: PageToken.binding("operations", "done = false")).encoded
        #expect {
            try PageToken(decoding: text, expectedBinding: PageToken.binding("operations", "done = true"))
        } throws: { ($0 as? DomainError)?.reason == .pageTokenMismatch }
        #expect(PageToken.binding("ab", "c") != PageToken.binding("a", "bc"))
    }

    @Test(arguments: ["x", "!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAA", String(repeating: "A", count: 500)])
    func garbageTokensAreInvalidArgument(_ text: String) {
        #expect {
            try PageToken(decoding: text, expectedBinding: 0)
        } throws: { ($0 as? DomainError)?.reason == .invalidPageToken }
    }

    @Test func everyFlippedCharacterOfATokenIsDetected() {
        let binding = PageToken.binding("operations", "")
        let text = Array(PageToken(position: 77, binding: binding).encoded)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var accepted = 0
        for index in text.indices {
            for replacement in alphabet where replacement != text[index] {
                var mutated = text
                mutated[index] = replacement
                if (try? PageToken(decoding: String(mutated), expectedBinding: binding)) != nil { accepted += 1 }
            }
        }
        // The 16-bit check lets about one in 65536 corruptions through; 26 * 63 tries should find none.
        #expect(accepted == 0)
    }

    @Test(arguments: [
        ("2026-11-21T06:07:59Z", Int64(1_795_241_279) * 1_000_000_000),
        ("2026-11-21T06:07:59.5Z", Int64(1_795_241_279) * 1_000_000_000 + 500_000_000),
        ("2026-11-21T07:07:59+01:00", Int64(1_795_241_279) * 1_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
    ])
    func rfc3339ParsesAndFormatsRoundTrip(_ text: String, _ nanos: Int64) throws {
        let parsed = try #require(RFC3339.parse(text))
        #expect(parsed.nanosecondsSinceEpoch == nanos)
        #expect(RFC3339.parse(RFC3339.format(parsed)) == parsed)
    }

    @Test(arguments: ["2026-01-01T00:00:00.1234567890Z", "9999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"])
    func rfc3339HandlesExtremesWithoutTrapping(_ text: String) {
        // More than nine fraction digits are truncated; years outside 1677...2262 are not timestamps.
        let parsed = RFC3339.parse(text)
        if text.contains(".1234567890") { #expect(parsed?.nanos == 123_456_789) } else { #expect(parsed == nil) }
    }

    @Test func extremeTimestampsFormatAndSplitWithoutTrapping() {
        for nanos in [Int64.min, Int64.min + 1, -1, 0, Int64.max] {
            let timestamp = Timestamp(nanosecondsSinceEpoch: nanos)
            #expect(timestamp.nanos >= 0 && timestamp.nanos < 1_000_000_000)
            #expect(Int128(timestamp.seconds) * 1_000_000_000 + Int128(timestamp.nanos) == Int128(nanos))
            #expect(!RFC3339.format(timestamp).isEmpty)
        }
        #expect(Timestamp(seconds: .max).nanosecondsSinceEpoch == .max)
    }

    @Test(arguments: ["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-21", "2026-11-21T06:07:59", "2026-11-21T24:00:00Z", "2026-11-21T06:07:59.Z"])
    func rfc3339RejectsMalformedTimes(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}
