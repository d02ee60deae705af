import Foundation
@testable import LongrunDomain
import LongrunFuzzProperties
import LongrunTestSupport
import Testing

// Seeded random inputs for the parsers that take text from callers: filters, page tokens, names
// and request ids. The properties (and the seeds and records) are LongrunFuzzProperties', which the
// libFuzzer targets in Tools/fuzz check too; the generation is here, bounded so that every
// `swift test` runs them: LONGRUN_FUZZ_ITERATIONS (default 20000) inputs per test, from
// LONGRUN_FUZZ_SEED (default fixed, so CI is reproducible; any failure names the seed to rerun with).

// MARK: - Seeded generation

/// Byte- and scalar-level damage to a valid text: the mutations libFuzzer favours.
private func mutate(_ text: String, _ random: inout SplitMix64) -> String {
    var scalars = Array(text.unicodeScalars)
    let extras: [Unicode.Scalar] = ["(", ")", "\"", "'", "\\", "*", "-", ":", "=", "!", "<", ">", " ", "\t", "\n", "\r",
                                    "/", "a", "Z", "0", "9", ".", "_", "\u{0}", "\u{301}", "\u{3000}", "\u{FEFF}", "\u{1F600}", "ü"]
    for _ in 0..<Int.random(in: 1...3, using: &random) {
        let index = scalars.isEmpty ? 0 : Int.random(in: 0...scalars.count, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where index < scalars.count: scalars.remove(at: index)
        case 1 where index < scalars.count: scalars[index] = random.pick(extras)
        case 2: scalars.insert(random.pick(extras), at: index)
        case 3: scalars.removeSubrange(index...)
        case 4 where !scalars.isEmpty:
            let start = Int.random(in: 0..<scalars.count, using: &random)
            let end = Int.random(in: start...scalars.count, using: &random)
            scalars.insert(contentsOf: scalars[start..<end], at: index)
        default: scalars.insert(Unicode.Scalar(UInt32.random(in: 0x20...0x7E, using: &random))!, at: index)
        }
    }
    return String(String.UnicodeScalarView(scalars))
}

// MARK: - Filters

/// Text from the filter language's vocabulary, in random order: mostly near-misses of real filters.
private func randomFilterText(_ random: inout SplitMix64) -> String {
    let fields = ["done", "cancel_requested", "name", "create_time", "update_time", "end_time", "error.code",
                  "metadata.type", "response.type", "Done", "error", "name.x",
                  "metadata.stage", "metadata.a.b", "response.value", "metadata.", "metadata..x", "response.type.x"]
    let operators = ["=", "!=", "<", "<=", ">", ">=", ":", "==", "!", "=<"]
    let values = ["true", "false", "*", "\"*\"", "\"operations/*\"", "'*acme*'", "\"\"", "CANCELLED", "cancelled", "0", "-1",
                  "2147483647", "-2147483648", "2147483648", "\"2026-01-01T00:00:00Z\"", "\"2026-01-01T00:00:00.5+05:30\"",
                  "\"1677-09-21T00:12:44.145224191Z\"", "\"1677-09-21T00:12:44.145224190Z\"", "\"2262-04-11T23:47:16.854775808Z\"",
                  "\"0000-01-01T00:00:00Z\"", "\"9999-12-31T23:59:60Z\"", "acme.v1.BuildMetadata", "\"x/y/z*\"", "\"\\\"\"", "-5", "- 5"]
    let glue = ["AND", "OR", "NOT", "-", "(", ")", "and", " ", "  ", "\t"]
    var parts: [String] = []
    for _ in 0..<Int.random(in: 1...12, using: &random) {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: parts.append(random.pick(fields) + random.pick(["", " "]) + random.pick(operators) + random.pick(["", " "]) + random.pick(values))
        case 1: parts.append(random.pick(glue))
        case 2: parts.append(random.pick(fields))
        default: parts.append(random.pick(values))
        }
    }
    return parts.joined(separator: random.pick([" ", "", "  "]))
}

/// A well-formed filter with its meaning computed independently of the parser: for checking
/// precedence, negation, implicit AND, wildcards and literal conversion.
private indirect enum ReferenceFilter {
    case leaf(text: String, meaning: @Sendable (FilterRecord) -> Bool)
    case and([ReferenceFilter])
    case or([ReferenceFilter])
    case not(ReferenceFilter)

    func matches(_ record: FilterRecord) -> Bool {
        switch self {
        case .leaf(_, let meaning): meaning(record)
        case .and(let children): children.allSatisfy { $0.matches(record) }
        case .or(let children): children.contains { $0.matches(record) }
        case .not(let child): !child.matches(record)
        }
    }

    var depth: Int {
        switch self {
        case .leaf: 0
        case .and(let children), .or(let children): 1 + children.map(\.depth).max()!
        case .not(let child): 1 + child.depth
        }
    }

    /// Written with only the parentheses precedence needs (OR binds tighter than AND), sometimes more.
    func text(_ random: inout SplitMix64) -> String {
        switch self {
        case .leaf(let text, _):
            return random.chance(10) ? "(" + text + ")" : text
        case .and(let children):
            let separator = random.pick([" AND ", " ", "  AND\t"])
            return children.map { $0.operand(&random, parenthesizeAnd: true) }.joined(separator: separator)
        case .or(let children):
            return children.map { child in
                if case .and = child { return "(" + child.text(&random) + ")" }
                return child.operand(&random, parenthesizeAnd: true)
            }.joined(separator: " OR ")
        case .not(let child):
            let operand: String
            switch child {
            case .leaf, .not: operand = child.operand(&random, parenthesizeAnd: true)
            case .and, .or: operand = "(" + child.text(&random) + ")"
            }
            return random.pick(["NOT ", "-", "NOT\t"]) + operand
        }
    }

    private func operand(_ random: inout SplitMix64, parenthesizeAnd: Bool) -> String {
        if case .and = self { return "(" + text(&random) + ")" }
        return random.chance(10) ? "(" + text(&random) + ")" : text(&random)
    }

    static func random(_ random: inout SplitMix64, depth: Int) -> ReferenceFilter {
        if depth == 0 || random.chance(35) { return leaf(&random) }
        let count = Int.random(in: 2...3, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return .and((0..<count).map { _ in Self.random(&random, depth: depth - 1) })
        case 1: return .or((0..<count).map { _ in Self.random(&random, depth: depth - 1) })
        default: return .not(Self.random(&random, depth: depth - 1))
        }
    }

    private static func leaf(_ random: inout SplitMix64) -> ReferenceFilter {
        switch Int.random(in: 0..<7, using: &random) {
        case 0:
            let value = random.chance(50)
            return .leaf(text: random.pick(["done = \(value)", "done != \(!value)"]), meaning: { $0.done == value })
        case 1:
            return .leaf(text: random.pick(["cancel_requested", "cancel_requested = true"]), meaning: { $0.cancelRequested })
        case 2:
            let code = random.pick([Int32(1), -7, 0, .max, .min])
            let op = random.pick(["=", "!=", "<", ">="])
            return .leaf(text: "error.code \(op) \(code)", meaning: { record in
                guard let actual = record.errorCode else { return op == "!=" }
                switch op {
                case "=": return actual == code
                case "!=": return actual != code
                case "<": return actual < code
                default: return actual >= code
                }
            })
        case 3:
            let prefix = random.pick(["operations/", "tenants/", "operations/c", "", "x"])
            return .leaf(text: "name = \"\(prefix)*\"", meaning: { $0.name.hasPrefix(prefix) })
        case 4:
            let bound = random.pick(["2026-01-01T00:00:00Z", "1970-01-01T00:00:00.000000001Z", "2026-03-01T13:00:00+01:00"])
            let instant = RFC3339.parse(bound)!
            return .leaf(text: "create_time > \"\(bound)\"", meaning: { $0.createTime > instant })
        case 5:
            // A missing value satisfies only `!=`, so the second one holds for every record.
            return random.chance(50)
                ? .leaf(text: "end_time:*", meaning: { $0.endTime != nil })
                : .leaf(text: "(end_time != \"1970-01-01T00:00:00Z\" OR end_time = \"1970-01-01T00:00:00Z\")", meaning: { _ in true })
        default:
            let name = random.pick(["BuildMetadata", "acme.v1.BuildMetadata", "Meta"])
            return .leaf(text: "metadata.type : \"*\(name)\"", meaning: { record in
                guard let url = record.metadataType else { return false }
                return url.split(separator: "/", omittingEmptySubsequences: false).last!.hasSuffix(name)
            })
        }
    }
}

@Suite("Fuzz properties: filters, page tokens, names")
struct FuzzPropertyTests {
    /// The shared properties (``FilterProperties/violation(_:)``, which Tools/fuzz checks too), and
    /// that the canonical form parses to the same tree, which only a test can see.
    static func filterViolation(_ text: String) -> String? {
        if let violation = FilterProperties.violation(text) { return violation }
        guard let filter = try? Filter(parsing: text) else { return nil }
        guard let again = try? Filter(parsing: filter.canonical), again.root == filter.root else {
            return "canonical \(filter.canonical.debugDescription) parses to another tree"
        }
        return nil
    }

    @Test func filterSeedsAndTheirMutationsKeepTheirProperties() {
        for seed in FilterProperties.seeds {
            if let violation = Self.filterViolation(seed) { Issue.record("\(seed.debugDescription): \(violation)") }
        }
        FuzzRun.run(1) { random in
            let text = random.chance(50) ? mutate(random.pick(FilterProperties.seeds), &random) : mutate(randomFilterText(&random), &random)
            if let violation = Self.filterViolation(text) {
                Issue.record("\(text.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    @Test func randomVocabularyFiltersKeepTheirProperties() {
        FuzzRun.run(2) { random in
            let text = randomFilterText(&random)
            if let violation = Self.filterViolation(text) {
                Issue.record("\(text.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    @Test func wellFormedFiltersMeanWhatAnIndependentEvaluationSays() throws {
        try FuzzRun.run(3) { random in
            let reference = ReferenceFilter.random(&random, depth: 4)
            let text = reference.text(&random)
            let filter: Filter
            do { filter = try Filter(parsing: text) } catch {
                Issue.record("\(text.debugDescription) was rejected: \(error); \(FuzzRun.reproduce)")
                return
            }
            for record in FilterProperties.records where filter.matches(record) != reference.matches(record) {
                Issue.record("\(text.debugDescription) (canonical \(filter.canonical)) gives \(filter.matches(record)) for \(record.name); \(FuzzRun.reproduce)")
            }
            let again = try Filter(parsing: filter.canonical)
            for record in FilterProperties.records where again.matches(record) != reference.matches(record) {
                Issue.record("canonical \(filter.canonical) of \(text.debugDescription) differs on \(record.name); \(FuzzRun.reproduce)")
            }
        }
    }

    /// Payload bytes of any shape (random, or a valid Struct damaged) never trap a payload filter,
    /// and a filter's NOT stays its complement on them.
    @Test func payloadFiltersReadAnyBytesWithoutTrapping() throws {
        let texts = ["metadata.stage = \"LINK*\"", "metadata.a.b > 1", "metadata.a.b:2", "metadata.stage:*", "metadata.value > 0",
                     "response.a.b.c != \"*y\"", "metadata.a:*", "metadata.list:x"]
        let filters = try texts.map { try Filter(parsing: $0) }
        let negations = try texts.map { try Filter(parsing: "NOT (\($0))") }
        let types = ["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Int64Value",
                     "google.protobuf.StringValue", "google.protobuf.DoubleValue"]
        FuzzRun.run(5) { random in
            var bytes = FilterProperties.structBytes
            if random.chance(30) {
                bytes = random.bytes(0...48)
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let index = Int.random(in: 0...bytes.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0 where index < bytes.count: bytes[index] = UInt8.random(in: 0...255, using: &random)
                    case 1 where index < bytes.count: bytes.remove(at: index)
                    case 2: bytes.removeSubrange(index...)
                    default: bytes.insert(random.pick([0x80, 0xFF, 0x0A, 0x12, 0x2A, 0x07, 0x0B, 0x00]), at: index)
                    }
                }
            }
            let type = "type.googleapis.com/" + random.pick(types)
            let payload = Payload(typeURL: type, value: bytes)
            let record = FilterRecord(name: "operations/f", done: true, createTime: Timestamp(nanosecondsSinceEpoch: 0),
                                      updateTime: Timestamp(nanosecondsSinceEpoch: 0), metadataType: type, responseType: type,
                                      metadata: payload, response: payload)
            for (index, filter) in filters.enumerated() where filter.matches(record) == negations[index].matches(record) {
                Issue.record("\(texts[index]) and its NOT agree on \(type) \(bytes); \(FuzzRun.reproduce)")
            }
        }
    }

    // MARK: Page tokens

    @Test func pageTokensRoundTripAndDamagedOnesAreRefused() {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ü")
        FuzzRun.run(4) { random in
            let binding = random.chance(20) ? PageToken.binding("operations", "done = false") : random.next()
            let token = PageToken(position: random.pick([0, 1, .max, random.next()]), binding: binding)
            let encoded = token.encoded
            let decoded = try? PageToken(decoding: encoded, expectedBinding: binding)
            #expect(decoded == token, "\(FuzzRun.reproduce)")
            #expect(encoded.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(throws: DomainError.self) { try PageToken(decoding: encoded, expectedBinding: binding &+ 1) }
            let cut = String(encoded.dropLast(Int.random(in: 1...encoded.count, using: &random)))
            #expect(throws: DomainError.self) { try PageToken(decoding: cut, expectedBinding: binding) }

            var damaged = Array(encoded)
            for _ in 0..<Int.random(in: 1...2, using: &random) {
                let index = Int.random(in: 0..<damaged.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: damaged[index] = random.pick(alphabet)
                case 1: damaged.insert(random.pick(alphabet), at: index)
                default: damaged.remove(at: index)
                }
            }
            if let violation = PageTokenProperties.violation(String(damaged), expected: binding) {
                Issue.record("\(String(damaged).debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
            let noise = String((0..<Int.random(in: 0...70, using: &random)).map { _ in random.pick(alphabet) })
            if let violation = PageTokenProperties.violation(noise, expected: binding) {
                Issue.record("\(noise.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes, "\(bytes)")
        }
    }

    // MARK: Names and request ids

    @Test func namesAgreeWithAnIndependentReadingOfTheRules() {
        for text in NameProperties.seeds { if let violation = NameProperties.violation(text) { Issue.record("\(text.debugDescription): \(violation)") } }
        FuzzRun.run(5) { random in
            let text = random.chance(40) ? mutate(random.pick(NameProperties.seeds), &random) : randomName(&random)
            if let violation = NameProperties.violation(text) {
                Issue.record("\(text.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    /// `OperationName(parsing:)` checks a name's bytes first (`validatedParentLength`) and reads it
    /// step by step (`init(explaining:)`) only to say why it refuses one: the two must accept
    /// exactly the same names with the same parent, and both public parsers (from a `String`, from
    /// bytes) must answer as the step-by-step reading does, the same name or the same error.
    @Test func theByteLevelNameCheckAgreesWithTheStepByStepReading() {
        func answer(_ parse: () throws(DomainError) -> OperationName) -> String {
            do throws(DomainError) {
                let name = try parse()
                return "\(name.description) in \(name.collection.parent.debugDescription), id \(name.id)"
            } catch {
                return "refused: \(error)"
            }
        }
        func violation(_ text: String) -> String? {
            let bytes = Array(text.utf8)
            let parentLength = bytes.withUnsafeBytes { OperationName.validatedParentLength($0) }
            let explained = answer { () throws(DomainError) in try OperationName(explaining: text) }
            switch try? OperationName(explaining: text) {
            case let name?:
                guard parentLength == name.collection.parent.utf8.count else {
                    return "the byte check gave \(String(describing: parentLength)) where the step-by-step reading accepts \(explained)"
                }
            case nil:
                guard parentLength == nil else { return "the byte check accepted what the step-by-step reading refuses: \(explained)" }
            }
            let fromString = answer { () throws(DomainError) in try OperationName(parsing: text) }
            let fromBytes = bytes.withUnsafeBytes { bytes in answer { () throws(DomainError) in try OperationName(parsing: bytes) } }
            guard fromString == explained, fromBytes == explained else {
                return "parsed from a String: \(fromString); from bytes: \(fromBytes); step by step: \(explained)"
            }
            return nil
        }
        let segment63 = String(repeating: "a", count: 63)
        let edges = [
            "/operations/x", "operations/operations/x", "a/b/operations/x/", "a/b//operations/x", "a/b/operations/",
            "a/b/operations", "aB/x/operations/y", "t/9/operations/z", "t/-9/operations/z", "t/9-/operations/z", "9t/x/operations/y",
            "operations/x/operations/y", "a/b/c/d/operations/e", "a/b/c/operations/e", "a/b/operations/e-", "a/b/operationz/e",
            "a/b/Operations/e", "a/b/xoperations/e", "a/b/\u{0}operations/e", segment63 + "/" + segment63 + "/operations/" + segment63,
            String(repeating: "a", count: 64) + "/b/operations/c", "a/" + String(repeating: "b", count: 64) + "/operations/c",
            // 256 and 257 bytes.
            "a/" + String(repeating: "b", count: 63) + "/c/" + String(repeating: "d", count: 63) + "/e/" + String(repeating: "f", count: 49)
                + "/operations/" + segment63,
            "a/" + String(repeating: "b", count: 63) + "/c/" + String(repeating: "d", count: 63) + "/e/" + String(repeating: "f", count: 50)
                + "/operations/" + segment63,
            "operations/ü", "ü/x/operations/y", "operations/a\u{301}", "operations/a\u{FFFD}",
        ]
        for text in NameProperties.seeds + edges {
            if let violation = violation(text) { Issue.record("\(text.debugDescription): \(violation)") }
        }
        FuzzRun.run(7) { random in
            let text = random.chance(40) ? mutate(random.pick(NameProperties.seeds + edges), &random) : randomName(&random)
            if let violation = violation(text) { Issue.record("\(text.debugDescription): \(violation); \(FuzzRun.reproduce)") }
        }
    }

    /// Found by Tools/fuzz (fuzz-names, input `t/0/operations/\u{35C}z`): the id was cut after the
    /// last '/' by Character, and a combining mark after that '/' joins it into one Character, so the
    /// mark was dropped and the name accepted as `t/0/operations/z`, a different name.
    @Test(arguments: ["t/0/operations/\u{35C}z", "operations/\u{301}a", "tenants/acme/operations/\u{200D}b"])
    func aCombiningMarkAfterTheLastSlashIsNotDropped(_ text: String) {
        #expect(throws: DomainError.self) { try OperationName(parsing: text) }
        #expect(NameProperties.violation(text) == nil)
    }

    /// Writes the libFuzzer seed corpora (Tools/fuzz/corpus/{filter,page-token,names}) when
    /// LONGRUN_FUZZ_WRITE_CORPUS names the corpus directory. A page-token input is the expected
    /// binding (8 bytes, big-endian) followed by the token text.
    @Test func writeSeedCorpusWhenAsked() throws {
        guard let directory = FuzzRun.environment["LONGRUN_FUZZ_WRITE_CORPUS"] else { return }
        func write(_ target: String, _ inputs: [[UInt8]]) throws {
            try FileManager.default.createDirectory(atPath: directory + "/" + target, withIntermediateDirectories: true)
            for (index, input) in inputs.enumerated() {
                try Data(input).write(to: URL(fileURLWithPath: "\(directory)/\(target)/seed-\(index)"))
            }
        }
        try write("filter", FilterProperties.seeds.map { Array($0.utf8) })
        try write("names", NameProperties.seeds.map { Array($0.utf8) })
        let bindings = [PageToken.binding("operations", "done = false"), PageToken.binding("tenants/acme", ""), 0, .max]
        var tokens: [[UInt8]] = []
        for (index, binding) in bindings.enumerated() {
            let prefix = (0..<8).map { UInt8(truncatingIfNeeded: binding >> (56 - 8 * UInt64($0))) }
            let encoded = PageToken(position: [0, 1, 123_456_789, .max][index], binding: binding).encoded
            tokens.append(prefix + Array(encoded.utf8))
            tokens.append(prefix + Array(encoded.dropLast().utf8))
        }
        try write("page-token", tokens)
    }

    /// Found by Tools/fuzz (fuzz-names): `{parent}` whose last id is `operations` was read only as
    /// `{parent}/operations` with a parent of an odd number of segments, and refused.
    @Test func aListNameWhoseLastIDIsOperationsIsThatParent() throws {
        #expect(try CollectionName(listName: "j/operations").parent == "j/operations")
        #expect(try CollectionName(listName: "tenants/operations").parent == "tenants/operations")
        #expect(try CollectionName(listName: "tenants/operations/operations").parent == "tenants/operations")
        #expect(try CollectionName(listName: "a/b/tenants/operations").parent == "a/b/tenants/operations")
        #expect(throws: DomainError.self) { try CollectionName(listName: "tenants/Acme/operations") }
        #expect(throws: DomainError.self) { try CollectionName(listName: "a/b/c/operations") == CollectionName(listName: "a/b/c") }
        #expect(throws: DomainError.self) { try CollectionName(listName: "operations/operations") }
    }
}

/// Names from the pieces that the rules treat differently: mostly near-misses.
private func randomName(_ random: inout SplitMix64) -> String {
    let pieces = ["operations", "tenants", "acme", "a", "z9", "9z", "b-1", "-b", "b-", "aBc", "ABC", "x_y", "ü", "",
                  String(repeating: "a", count: 63), String(repeating: "b", count: 64), "o01jd4x8k2m7c9gq1"]
    return (0..<Int.random(in: 1...8, using: &random)).map { _ in random.pick(pieces) }.joined(separator: "/")
}
