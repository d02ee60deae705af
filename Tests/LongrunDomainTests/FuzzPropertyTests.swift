import Foundation
@testable import LongrunDomain
import LongrunTestSupport
import Testing

// Seeded random inputs for the parsers that take text from callers: filters, page tokens, names
// and request ids. The same properties as the libFuzzer targets in Tools/fuzz, bounded so that every
// `swift test` runs them: LONGRUN_FUZZ_ITERATIONS (default 20000) inputs per test, from
// LONGRUN_FUZZ_SEED (default fixed, so CI is reproducible; any failure names the seed to rerun with).

// MARK: - Seeded generation

private enum FuzzRun {
    static let environment = ProcessInfo.processInfo.environment
    static let iterations = environment["LONGRUN_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 20_000
    static let seed: UInt64 = environment["LONGRUN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x10_46_2026

    /// Runs `body` `iterations` times with one generator per test, derived from the seed and the test's salt.
    static func run(_ salt: UInt64, _ body: (inout SplitMix64) throws -> Void) rethrows {
        var random = SplitMix64(seed: seed ^ salt)
        for _ in 0..<iterations { try body(&random) }
    }

    static var reproduce: String { "reproduce with LONGRUN_FUZZ_SEED=\(seed)" }
}

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

/// Records that differ in every field a filter can name, including absent values and extreme times.
private let fuzzRecords: [FilterRecord] = {
    func time(_ text: String) -> Timestamp { RFC3339.parse(text)! }
    return [
        FilterRecord(name: "operations/build-1", done: false, createTime: time("2026-03-01T12:00:00Z"),
                     updateTime: time("2026-03-01T12:05:00Z"), metadataType: "type.googleapis.com/acme.v1.BuildMetadata"),
        FilterRecord(name: "tenants/acme/operations/tmp-2", done: true, createTime: time("2026-01-01T00:00:00Z"),
                     updateTime: time("2026-01-02T00:00:00.5Z"), endTime: time("2026-01-02T00:00:00.5Z"),
                     metadataType: "type.googleapis.com/acme.v1.BuildMetadata", responseType: "type.googleapis.com/acme.v1.BuildResult"),
        FilterRecord(name: "operations/c", done: true, createTime: Timestamp(nanosecondsSinceEpoch: 0),
                     updateTime: Timestamp(nanosecondsSinceEpoch: 1), endTime: Timestamp(nanosecondsSinceEpoch: 1),
                     errorCode: 1, cancelRequested: true),
        FilterRecord(name: "projects/p/locations/l/operations/d-9", done: true,
                     createTime: Timestamp(nanosecondsSinceEpoch: Filter.minimumNanoseconds),
                     updateTime: Timestamp(nanosecondsSinceEpoch: .max), endTime: Timestamp(nanosecondsSinceEpoch: .max),
                     errorCode: -7, metadataType: "acme.Meta", responseType: ""),
        FilterRecord(name: "operations/ünï", done: false, createTime: Timestamp(nanosecondsSinceEpoch: -1),
                     updateTime: Timestamp(nanosecondsSinceEpoch: 0), cancelRequested: true, metadataType: "x/y/z*"),
        FilterRecord(name: "", done: true, createTime: time("2262-04-11T23:47:16.854775807Z"),
                     updateTime: time("2262-04-11T23:47:16.854775807Z"), endTime: time("1970-01-01T00:00:00Z"),
                     errorCode: Int32.max, responseType: "type.googleapis.com/google.protobuf.Empty"),
        // Payloads the well-known types read: a Struct {stage: "LINKING", a: {b: 2}}, an Int64Value, damaged bytes.
        FilterRecord(name: "operations/s", done: false, createTime: time("2026-03-01T12:00:00Z"), updateTime: time("2026-03-01T12:00:00Z"),
                     metadataType: "type.googleapis.com/google.protobuf.Struct",
                     metadata: Payload(typeURL: "type.googleapis.com/google.protobuf.Struct", value: fuzzStructBytes)),
        FilterRecord(name: "operations/w", done: true, createTime: time("2026-03-01T12:00:00Z"), updateTime: time("2026-03-01T12:00:00Z"),
                     endTime: time("2026-03-01T12:00:00Z"), metadataType: "type.googleapis.com/google.protobuf.Struct",
                     responseType: "type.googleapis.com/google.protobuf.Int64Value",
                     metadata: Payload(typeURL: "type.googleapis.com/google.protobuf.Struct", value: Array(fuzzStructBytes.dropLast(3))),
                     response: Payload(typeURL: "type.googleapis.com/google.protobuf.Int64Value", value: [0x08, 0x07])),
        FilterRecord(name: "operations/\"quoted\"\\ \t\n", done: true, createTime: time("1999-12-31T23:59:59.999999999Z"),
                     updateTime: time("2000-01-01T00:00:00Z"), endTime: time("2000-01-01T00:00:00Z"), errorCode: Int32.min),
    ]
}()

/// google.protobuf.Struct {stage: "LINKING", a: {b: 2}}.
private let fuzzStructBytes: [UInt8] = {
    func entry(_ w: inout WireWriter, _ key: String, _ value: (inout WireWriter) -> Void) {
        w.message(1) { e in
            e.string(1, key)
            e.message(2, value)
        }
    }
    var w = WireWriter()
    entry(&w, "stage") { $0.string(3, "LINKING") }
    entry(&w, "a") { v in v.message(5) { inner in entry(&inner, "b") { $0.fixed64(2, 2.0.bitPattern) } } }
    return w.bytes
}()

/// Filters that exercise every production, literal kind and error path; also the libFuzzer seeds.
private let filterSeeds: [String] = [
    "", "   ", "done", "NOT done", "-done", "done = false", "done != true", "done:*", "cancel_requested",
    "done = false AND metadata.type = acme.v1.BuildMetadata",
    #"create_time > "2026-01-01T00:00:00Z" error.code:* -name:"*/tmp-*""#,
    #"update_time <= "2026-01-01T01:00:00+01:00" OR end_time >= '1970-01-01T00:00:00.123456789Z'"#,
    #"end_time != "2262-04-11T23:47:16.854775807Z" AND create_time = "1677-09-21T00:12:44.145224191Z""#,
    "error.code = CANCELLED OR error.code = 4 OR error.code < -2147483648 OR error.code >= deadline_exceeded",
    #"name = "operations/*" AND name != "*-1" AND name : "*acme*" AND name < "operations/c" AND name >= "*""#,
    #"response.type = "type.googleapis.com/acme.v1.BuildResult" OR response.type:* OR metadata.type != "*Meta""#,
    #"(done OR (cancel_requested AND NOT (error.code = 1))) AND -(name = "x" OR name = 'y\'\"\\\n\t')"#,
    #"metadata.stage = "LINK*" AND metadata.a.b > 1.5 OR response.value:7 AND NOT metadata.missing != x"#,
    "metadata.a.b = -2 metadata.stage:* -response.value <= 9223372036854775808", "metadata..x = 1", "metadata. = 1",
    "metadata." + Array(repeating: "a", count: 33).joined(separator: ".") + ":*",
    "NOT NOT NOT done", "((((done))))", "done AND AND done", "done OR", "(done", "done)", "name ==", "!done",
    "name = ", "create_time > 2026", #"create_time > "2026-13-01T00:00:00Z""#, #"create_time > "9999-12-31T23:59:59Z""#,
    #"create_time > "2026-01-01T00:00:00.1234567890Z""#, "error.code = 99999999999", "error.code = -",
    "and done", "done or done", "unknown = 1", #""bare""#, "done < true", #"name = "\q""#, #"name = "unterminated"#,
    "name = \"ünï\u{301}\" AND name != \"\u{1F600}\"", "\u{3000}done\u{3000}", "done\r\nAND\tdone",
    String(repeating: "(", count: 40) + "done" + String(repeating: ")", count: 40),
    String(repeating: "NOT ", count: 40) + "done",
    Array(repeating: "done", count: 40).joined(separator: " OR "),
]

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
    /// What every filter text must satisfy; returns a description of the first violation.
    static func filterViolation(_ text: String) -> String? {
        let filter: Filter
        do {
            filter = try Filter(parsing: text)
        } catch {
            guard error.column >= 1, error.column <= text.count + 1 else { return "column \(error.column) outside the text" }
            guard error.message.contains("column \(error.column)") else { return "message does not name its column: \(error.message)" }
            return nil
        }
        guard text.count <= Filter.maximumLength else { return "accepted \(text.count) characters" }
        let canonical = filter.canonical
        guard filter.isEmpty == canonical.isEmpty else { return "empty canonical \(canonical.debugDescription)" }
        let again: Filter
        do { again = try Filter(parsing: canonical) } catch { return "canonical \(canonical.debugDescription) does not parse: \(error)" }
        guard again.canonical == canonical, again == filter, again.root == filter.root else {
            return "canonical \(canonical.debugDescription) parses as \(again.canonical.debugDescription)"
        }
        for record in fuzzRecords {
            let matched = filter.matches(record)
            if filter.excludesDone && record.done && matched { return "excludesDone but matches \(record)" }
        }
        if !filter.isEmpty, let negated = try? Filter(parsing: "NOT (" + canonical + ")") {
            for record in fuzzRecords where negated.matches(record) == filter.matches(record) {
                return "NOT (\(canonical)) is not the complement on \(record)"
            }
        }
        return nil
    }

    @Test func filterSeedsAndTheirMutationsKeepTheirProperties() {
        for seed in filterSeeds {
            if let violation = Self.filterViolation(seed) { Issue.record("\(seed.debugDescription): \(violation)") }
        }
        FuzzRun.run(1) { random in
            let text = random.chance(50) ? mutate(random.pick(filterSeeds), &random) : mutate(randomFilterText(&random), &random)
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
            for record in fuzzRecords where filter.matches(record) != reference.matches(record) {
                Issue.record("\(text.debugDescription) (canonical \(filter.canonical)) gives \(filter.matches(record)) for \(record.name); \(FuzzRun.reproduce)")
            }
            let again = try Filter(parsing: filter.canonical)
            for record in fuzzRecords where again.matches(record) != reference.matches(record) {
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
            var bytes = fuzzStructBytes
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

    static func pageTokenViolation(_ text: String, expected: UInt64) -> String? {
        do {
            let token = try PageToken(decoding: text, expectedBinding: expected)
            guard token.binding == expected, token.encoded == text else { return "accepted as \(token), which encodes as \(token.encoded)" }
        } catch {
            guard error.kind == .invalidArgument, [.invalidPageToken, .pageTokenMismatch].contains(error.reason) else {
                return "unexpected \(error)"
            }
        }
        if let bytes = Base64URL.decode(text), Base64URL.encode(bytes) != text { return "base64url is not canonical" }
        return nil
    }

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
            if let violation = Self.pageTokenViolation(String(damaged), expected: binding) {
                Issue.record("\(String(damaged).debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
            let noise = String((0..<Int.random(in: 0...70, using: &random)).map { _ in random.pick(alphabet) })
            if let violation = Self.pageTokenViolation(noise, expected: binding) {
                Issue.record("\(noise.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes, "\(bytes)")
        }
    }

    // MARK: Names and request ids

    @Test func namesAgreeWithAnIndependentReadingOfTheRules() {
        for text in nameSeeds { if let violation = NameReference.violation(text) { Issue.record("\(text.debugDescription): \(violation)") } }
        FuzzRun.run(5) { random in
            let text = random.chance(40) ? mutate(random.pick(nameSeeds), &random) : NameReference.randomName(&random)
            if let violation = NameReference.violation(text) {
                Issue.record("\(text.debugDescription): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    /// Found by Tools/fuzz (fuzz-names, input `t/0/operations/\u{35C}z`): the id was cut after the
    /// last '/' by Character, and a combining mark after that '/' joins it into one Character, so the
    /// mark was dropped and the name accepted as `t/0/operations/z`, a different name.
    @Test(arguments: ["t/0/operations/\u{35C}z", "operations/\u{301}a", "tenants/acme/operations/\u{200D}b"])
    func aCombiningMarkAfterTheLastSlashIsNotDropped(_ text: String) {
        #expect(throws: DomainError.self) { try OperationName(parsing: text) }
        #expect(NameReference.violation(text) == nil)
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
        try write("filter", filterSeeds.map { Array($0.utf8) })
        try write("names", nameSeeds.map { Array($0.utf8) })
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

private let nameSeeds: [String] = [
    "", "operations", "operations/", "operations/build-1", "operations/o01jd4x8k2m7c9gq1", "tenants/acme/operations/x",
    "tenants/acme", "tenants/acme/operations", "projects/p1/locations/us-east1/operations/a0-b", "tenants/operations",
    "tenants/operations/operations/x", "tenants/9/operations/z9", "operations/Build", "operations/1abc", "operations/abc-",
    "tenants//operations/x", "/operations/x", "operations/x/operations/y", "a/b/c", "aB9/x/operations/y",
    "operations/" + String(repeating: "a", count: 63), "operations/" + String(repeating: "a", count: 64),
    (1...4).map { "c\($0)/" + String(repeating: "a", count: 60) }.joined(separator: "/") + "/operations/x",
    "0b7b7d9e-6b5a-4b8f-9f3c-2a1d0c9b8a7f", "req 1", "req\u{7F}", "ünï/x/operations/y", "t/0/operations/\u{35C}z",
]

/// A deliberately naive reading of README.md's naming rules, to compare the parsers with.
private enum NameReference {
    static func isLower(_ c: Character) -> Bool { c.isASCII && c >= "a" && c <= "z" }
    static func isDigit(_ c: Character) -> Bool { c.isASCII && c >= "0" && c <= "9" }
    static func isUpper(_ c: Character) -> Bool { c.isASCII && c >= "A" && c <= "Z" }

    static func id(_ id: Substring, digitFirst: Bool) -> Bool {
        let chars = Array(id)
        guard (1...63).contains(chars.count), chars.count == id.utf8.count else { return false }
        guard isLower(chars[0]) || (digitFirst && isDigit(chars[0])), isLower(chars.last!) || isDigit(chars.last!) else { return false }
        return chars.allSatisfy { isLower($0) || isDigit($0) || $0 == "-" }
    }

    static func collection(_ segment: Substring) -> Bool {
        let chars = Array(segment)
        guard (1...63).contains(chars.count), chars.count == segment.utf8.count, isLower(chars[0]) else { return false }
        return chars.allSatisfy { isLower($0) || isDigit($0) || isUpper($0) }
    }

    static func parent(_ parent: String) -> Bool {
        let segments = parent.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments.count % 2 == 0 else { return false }
        return stride(from: 0, to: segments.count, by: 2).allSatisfy { index in
            collection(segments[index]) && segments[index] != "operations" && id(segments[index + 1], digitFirst: true)
        }
    }

    static func name(_ text: String) -> (parent: String, id: String)? {
        guard text.utf8.count <= 256 else { return nil }
        let segments = text.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments[segments.count - 2] == "operations", id(segments.last!, digitFirst: false) else { return nil }
        let parentText = segments.dropLast(2).joined(separator: "/")
        guard segments.count == 2 || parent(parentText) else { return nil }
        return (parentText, String(segments.last!))
    }

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

    static func randomName(_ random: inout SplitMix64) -> String {
        let pieces = ["operations", "tenants", "acme", "a", "z9", "9z", "b-1", "-b", "b-", "aBc", "ABC", "x_y", "ü", "",
                      String(repeating: "a", count: 63), String(repeating: "b", count: 64), "o01jd4x8k2m7c9gq1"]
        return (0..<Int.random(in: 1...8, using: &random)).map { _ in random.pick(pieces) }.joined(separator: "/")
    }

    static func violation(_ text: String) -> String? {
        let expected = name(text)
        do {
            let parsed = try OperationName(parsing: text)
            guard let expected, parsed.collection.parent == expected.parent, parsed.id == expected.id else {
                return "OperationName accepted it; the rules say \(String(describing: expected))"
            }
            guard parsed.description == text, (try? OperationName(parsing: parsed.description)) == parsed,
                  (try? OperationName(collection: parsed.collection, id: parsed.id)) == parsed,
                  (try? CollectionName(listName: parsed.collection.description)) == parsed.collection,
                  (try? CollectionName(parent: parsed.collection.parent)) == parsed.collection
            else { return "the name does not round-trip through its parts" }
        } catch {
            if let expected { return "OperationName rejected it (\(error)); the rules accept \(expected)" }
            if error.kind != .invalidArgument { return "unexpected \(error)" }
        }
        if OperationName.isValidID(text) != id(text[...], digitFirst: false) { return "isValidID disagrees" }

        let expectedParent = listName(text)
        do {
            let collection = try CollectionName(listName: text)
            guard collection.parent == expectedParent else { return "listName read \(collection.parent.debugDescription); the rules say \(String(describing: expectedParent))" }
            // A parent that is itself 246 to 256 bytes is accepted although no name in it fits.
            guard collection.description.utf8.count > 256 || (try? CollectionName(listName: collection.description)) == collection else {
                return "the collection does not round-trip"
            }
        } catch {
            if let expectedParent { return "listName rejected it (\(error)); the rules give \(expectedParent.debugDescription)" }
            if error.kind != .invalidArgument { return "unexpected \(error)" }
        }

        let parentValid = text.isEmpty || parent(text)
        if ((try? CollectionName(parent: text)) != nil) != parentValid { return "CollectionName(parent:) disagrees" }
        if ((try? Lifecycle.validateRequestID(text)) != nil) != requestID(text) { return "validateRequestID disagrees" }
        return nil
    }
}
