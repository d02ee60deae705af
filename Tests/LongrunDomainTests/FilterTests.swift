import LongrunTestSupport
import Testing
@testable import LongrunDomain

// MARK: - Fixtures

private func time(_ text: String) -> Timestamp {
    guard let timestamp = RFC3339.parse(text) else { fatalError("bad fixture timestamp \(text)") }
    return timestamp
}

private let buildType = "type.googleapis.com/acme.v1.BuildMetadata"
private let resultType = "type.googleapis.com/acme.v1.BuildResult"

/// A running operation: no end time, no error, metadata set, no response.
private let running = FilterRecord(
    name: "operations/build-1",
    done: false,
    createTime: time("2026-03-01T12:00:00Z"),
    updateTime: time("2026-03-01T12:05:00Z"),
    endTime: nil,
    errorCode: nil,
    cancelRequested: false,
    metadataType: buildType,
    responseType: nil
)

/// A running operation whose cancellation was requested and which has no metadata.
private let cancelling = FilterRecord(
    name: "operations/deploy-7",
    done: false,
    createTime: time("2026-02-01T00:00:00Z"),
    updateTime: time("2026-02-01T00:00:01Z"),
    endTime: nil,
    errorCode: nil,
    cancelRequested: true,
    metadataType: nil,
    responseType: nil
)

/// Done with a response.
private let succeeded = FilterRecord(
    name: "operations/build-2",
    done: true,
    createTime: time("2026-01-15T08:00:00Z"),
    updateTime: time("2026-01-15T09:00:00Z"),
    endTime: time("2026-01-15T09:00:00Z"),
    errorCode: nil,
    cancelRequested: false,
    metadataType: buildType,
    responseType: resultType
)

/// Done with an error (CANCELLED).
private let failed = FilterRecord(
    name: "operations/build-3",
    done: true,
    createTime: time("2025-12-31T23:00:00Z"),
    updateTime: time("2026-01-01T00:30:00Z"),
    endTime: time("2026-01-01T00:30:00.5Z"),
    errorCode: 1,
    cancelRequested: true,
    metadataType: buildType,
    responseType: nil
)

private let allRecords = [running, cancelling, succeeded, failed]

private func filter(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Filter {
    do {
        return try Filter(parsing: text)
    } catch {
        Issue.record("unexpected error for \(text): \(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// The names of the fixture records a filter matches, in fixture order.
private func matching(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
    let parsed = try filter(text, sourceLocation: sourceLocation)
    return allRecords.filter(parsed.matches).map(\.name)
}

private func parseError(_ text: String) -> FilterError? {
    do {
        _ = try Filter(parsing: text)
        return nil
    } catch {
        return error
    }
}

private let R = "operations/build-1"
private let C = "operations/deploy-7"
private let S = "operations/build-2"
private let F = "operations/build-3"

// MARK: - Empty filter

@Test(arguments: ["", " ", "\t\n  \r\n"])
func emptyFilterMatchesEverything(text: String) throws {
    let parsed = try Filter(parsing: text)
    #expect(parsed.isEmpty)
    #expect(parsed == Filter.all)
    #expect(parsed.canonical == "")
    #expect(parsed.description == "")
    #expect(!parsed.excludesDone)
    #expect(allRecords.allSatisfy(parsed.matches))
    #expect(Filter.all.isEmpty)
    #expect(allRecords.allSatisfy(Filter.all.matches))
}

@Test func nonEmptyFilterIsNotEmpty() throws {
    #expect(try !filter("done").isEmpty)
}

// MARK: - Booleans

@Test(arguments: [
    ("done = true", [S, F]),
    ("done = false", [R, C]),
    ("done != true", [R, C]),
    ("done != false", [S, F]),
    ("done:true", [S, F]),
    ("done : false", [R, C]),
    ("done", [S, F]),
    ("done:*", [R, C, S, F]),
    ("cancel_requested = true", [C, F]),
    ("cancel_requested", [C, F]),
    ("cancel_requested != true", [R, S]),
    ("cancel_requested = false", [R, S]),
    ("cancel_requested:*", [R, C, S, F]),
])
func booleanFields(text: String, expected: [String]) throws {
    #expect(try matching(text) == expected)
}

@Test(arguments: ["<", "<=", ">", ">="])
func orderingOnBooleansIsRejected(op: String) throws {
    let error = try #require(parseError("done \(op) true"))
    #expect(error.column == 6)
    #expect(error.message == "operator '\(op)' cannot be used with the boolean field done at column 6; use = or !=")
    let other = try #require(parseError("x = 1 AND cancel_requested \(op) false"))
    #expect(other.column == 1) // the unknown field comes first
    let third = try #require(parseError("cancel_requested \(op) false"))
    #expect(third.column == 18)
}

@Test(arguments: [
    ("done = \"abc\"", 8),
    ("done = \"true\"", 8),
    ("done = 1", 8),
    ("done = TRUE", 8),
    ("done = *", 8),
    ("cancel_requested != yes", 21),
])
func booleanValueMismatch(text: String, column: Int) throws {
    let error = try #require(parseError(text))
    #expect(error.column == column)
    #expect(error.message.contains("at column \(column); expected true or false"))
}

// MARK: - name

@Test(arguments: [
    ("name = \"operations/build-1\"", [R]),
    ("name = operations/build-1", [R]),
    ("name = 'operations/build-1'", [R]),
    ("name:\"operations/build-1\"", [R]),
    ("name != \"operations/build-1\"", [C, S, F]),
    ("name = \"operations/build\"", []),
    ("name = \"operations/build-*\"", [R, S, F]),
    ("name = operations/build-*", [R, S, F]),
    ("name:\"operations/build-*\"", [R, S, F]),
    ("name != \"operations/build-*\"", [C]),
    ("name = \"*-7\"", [C]),
    ("name = \"*uild*\"", [R, S, F]),
    ("name:*uild*", [R, S, F]),
    ("name != \"*uild*\"", [C]),
    ("name = \"*\"", [R, C, S, F]),
    ("name = \"**\"", [R, C, S, F]),
    ("name:*", [R, C, S, F]),
    ("name != \"*\"", []),
    ("name = \"operations*build-1\"", []), // '*' in the middle is literal
    ("name = \"*operations/build-1*\"", [R]), // contains, with the whole name as core
    ("name < \"operations/build-2\"", [R]),
    ("name <= \"operations/build-2\"", [R, S]),
    ("name > \"operations/build-2\"", [C, F]),
    ("name >= \"operations/build-3\"", [C, F]),
    ("name > \"operations/build-*\"", [R, C, S, F]), // ordering compares the literal as is; '*' < '1'
    ("name = \"Operations/build-1\"", []), // case-sensitive
])
func nameField(text: String, expected: [String]) throws {
    #expect(try matching(text) == expected)
}

@Test func stringOrderingIsByCodePoint() throws {
    func record(_ name: String) -> FilterRecord {
        FilterRecord(name: name, done: false, createTime: time("2026-01-01T00:00:00Z"), updateTime: time("2026-01-01T00:00:00Z"))
    }
    let parsed = try filter("name < \"b\"")
    #expect(parsed.matches(record("a")))
    #expect(parsed.matches(record("")))
    #expect(parsed.matches(record("B"))) // 'B' (0x42) sorts before 'b' (0x62)
    #expect(!parsed.matches(record("b")))
    #expect(!parsed.matches(record("é"))) // U+00E9 sorts after 'b'
    #expect(try filter("name > \"z\"").matches(record("é")))
    #expect(try filter("name >= \"\"").matches(record("")))
    #expect(try !filter("name > \"\"").matches(record("")))
}

@Test func stringEscapes() throws {
    func record(_ name: String) -> FilterRecord {
        FilterRecord(name: name, done: false, createTime: time("2026-01-01T00:00:00Z"), updateTime: time("2026-01-01T00:00:00Z"))
    }
    #expect(try filter(#"name = "a\"b""#).matches(record("a\"b")))
    #expect(try filter(#"name = 'a\'b'"#).matches(record("a'b")))
    #expect(try filter(#"name = 'a"b'"#).matches(record("a\"b")))
    #expect(try filter(#"name = "a'b""#).matches(record("a'b")))
    #expect(try filter(#"name = "a\\b""#).matches(record("a\\b")))
    #expect(try filter(#"name = "a\nb""#).matches(record("a\nb")))
    #expect(try filter(#"name = "a\tb""#).matches(record("a\tb")))
    #expect(try !filter(#"name = "a\tb""#).matches(record("a\\tb")))
    #expect(try filter(#"name = a\b"#).matches(record("a\\b"))) // no escapes in bare words
    #expect(try filter(#"name = """#).matches(record("")))
    #expect(try filter("name = \"é\"").matches(record("é")))
    #expect(try !filter("name = \"é\"").matches(record("e\u{301}"))) // compared as bytes, not canonically
}

// MARK: - Types

@Test(arguments: [
    ("metadata.type = acme.v1.BuildMetadata", [R, S, F]),
    ("metadata.type = \"acme.v1.BuildMetadata\"", [R, S, F]),
    ("metadata.type:acme.v1.BuildMetadata", [R, S, F]),
    ("metadata.type = \"BuildMetadata\"", []), // the whole type name, not a suffix
    ("metadata.type = \"*BuildMetadata\"", [R, S, F]),
    ("metadata.type = \"acme.v1.*\"", [R, S, F]),
    ("metadata.type = \"acme.v2.*\"", []),
    ("metadata.type = \"type.googleapis.com/acme.v1.BuildMetadata\"", [R, S, F]), // '/': the full URL
    ("metadata.type = \"example.com/acme.v1.BuildMetadata\"", []),
    ("metadata.type = \"type.googleapis.com/*\"", [R, S, F]),
    ("metadata.type = \"*/acme.v1.BuildMetadata\"", [R, S, F]),
    ("metadata.type = \"type.googleapis.com*\"", []), // no '/': compared with the type name
    ("metadata.type != acme.v1.BuildMetadata", [C]), // absent: != holds
    ("metadata.type != \"*\"", [C]),
    ("metadata.type:*", [R, S, F]),
    ("metadata.type = \"*\"", [R, S, F]),
    ("metadata.type < \"acme.v1.C\"", [R, S, F]),
    ("metadata.type > \"acme.v1.C\"", []),
    ("metadata.type >= \"type.googleapis.com/acme.v1.BuildMetadata\"", [R, S, F]),
    ("metadata.type > \"type.googleapis.com/acme.v1.BuildMetadata\"", []),
    ("response.type = acme.v1.BuildResult", [S]),
    ("response.type:*", [S]),
    ("response.type != acme.v1.BuildResult", [R, C, F]),
    ("response.type = \"*Result\"", [S]),
    ("response.type != \"*Result\"", [R, C, F]),
    ("response.type < \"zzz\"", [S]),
])
func typeFields(text: String, expected: [String]) throws {
    #expect(try matching(text) == expected)
}

@Test func typeNameExtractionEdgeCases() throws {
    func record(_ url: String) -> FilterRecord {
        FilterRecord(
            name: "operations/x", done: false, createTime: time("2026-01-01T00:00:00Z"),
            updateTime: time("2026-01-01T00:00:00Z"), metadataType: url
        )
    }
    let plain = try filter("metadata.type = acme.v1.M")
    #expect(plain.matches(record("acme.v1.M"))) // a URL without '/' is its own type name
    #expect(plain.matches(record("a/b/c/acme.v1.M"))) // the last '/' counts
    #expect(!plain.matches(record("acme.v1.M/")))
    #expect(try filter("metadata.type = \"\"").matches(record("x.com/")))
    #expect(try !filter("metadata.type = \"\"").matches(record("x.com/a")))
    #expect(try filter("metadata.type:*").matches(record(""))) // set, even if empty
    #expect(try filter("metadata.type = \"b/c/*\"").matches(record("b/c/acme.v1.M")))
    #expect(try !filter("metadata.type = \"b/c/*\"").matches(record("a/b/c/acme.v1.M")))
}

// MARK: - Timestamps

@Test(arguments: [
    ("create_time > \"2026-01-01T00:00:00Z\"", [R, C, S]),
    ("create_time >= \"2026-01-15T08:00:00Z\"", [R, C, S]),
    ("create_time < \"2026-01-15T08:00:00Z\"", [F]),
    ("create_time <= \"2026-01-15T08:00:00Z\"", [S, F]),
    ("create_time = \"2026-01-15T08:00:00Z\"", [S]),
    ("create_time:\"2026-01-15T08:00:00Z\"", [S]),
    ("create_time != \"2026-01-15T08:00:00Z\"", [R, C, F]),
    ("create_time = \"2026-01-15T09:00:00+01:00\"", [S]), // offsets
    ("create_time = \"2026-01-15T03:30:00-04:30\"", [S]),
    ("create_time = \"2026-01-15t08:00:00z\"", [S]),
    ("create_time = \"2026-01-15 08:00:00Z\"", [S]),
    ("create_time = '2026-01-15T08:00:00.000000000Z'", [S]),
    ("create_time > \"2026-01-15T08:00:00.000000001Z\"", [R, C]),
    ("create_time:*", [R, C, S, F]),
    ("update_time > \"2026-02-01T00:00:00Z\"", [R, C]),
    ("update_time = \"2026-01-01T00:30:00Z\"", [F]),
    ("end_time > \"2026-01-01T00:30:00Z\"", [S, F]),
    ("end_time = \"2026-01-01T00:30:00.5Z\"", [F]),
    ("end_time = \"2026-01-01T00:30:00.500Z\"", [F]),
    ("end_time < \"2026-01-01T00:30:00.5Z\"", []),
    ("end_time <= \"2026-01-01T01:30:00.5+01:00\"", [F]),
    ("end_time != \"2026-01-01T00:30:00.5Z\"", [R, C, S]), // absent: != holds
    ("end_time:*", [S, F]),
    ("end_time < \"2100-01-01T00:00:00Z\"", [S, F]), // absent: ordering fails
    ("end_time >= \"1970-01-01T00:00:00Z\"", [S, F]),
])
func timestampFields(text: String, expected: [String]) throws {
    #expect(try matching(text) == expected)
}

@Test func timestampsAtTheEdgesOfTheRange() throws {
    func record(_ nanoseconds: Int64) -> FilterRecord {
        let at = Timestamp(nanosecondsSinceEpoch: nanoseconds)
        return FilterRecord(name: "operations/x", done: false, createTime: at, updateTime: at)
    }
    #expect(try filter("create_time = \"2262-04-11T23:47:16.854775807Z\"").matches(record(.max)))
    #expect(try filter("create_time = \"1677-09-21T00:12:44.145224191Z\"").matches(record(.min + 999_999_999)))
    #expect(try filter("create_time > \"1677-09-21T00:12:44.145224191Z\"").canonical
        == "create_time > \"1677-09-21T00:12:44.145224191Z\"")
    #expect(try filter("create_time < \"1677-09-21T00:12:45Z\"").matches(record(.min))) // records may be older
    #expect(try filter("create_time < \"1970-01-01T00:00:00Z\"").matches(record(-1)))
    #expect(try filter("create_time = \"1969-12-31T23:59:59.999999999Z\"").matches(record(-1)))
    #expect(try filter("create_time = \"2000-02-29T00:00:00Z\"").matches(record(951_782_400_000_000_000)))
    // Leap seconds are clamped by RFC3339.parse.
    #expect(try filter("create_time = \"2016-12-31T23:59:60Z\"") == filter("create_time = \"2016-12-31T23:59:59Z\""))

    for text in [
        "2262-04-11T23:47:16.854775808Z", "1677-09-21T00:12:44.145224190Z", "1677-09-21T00:12:43.145224192Z",
        "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2262-04-12T00:00:00Z", "1600-02-29T00:00:00Z",
    ] {
        let error = try #require(parseError("create_time > \"\(text)\""))
        #expect(error.column == 15)
        #expect(error.message.contains("is out of range at column 15"))
    }
    let digits = try #require(parseError("end_time > \"2026-01-01T00:00:00.1234567890Z\""))
    #expect(digits.column == 12)
    #expect(digits.message.contains("at most 9 fractional digits"))
    #expect(try filter("end_time > \"2026-01-01T00:00:00.123456789Z\"").canonical
        == "end_time > \"2026-01-01T00:00:00.123456789Z\"")
}

@Test(arguments: [
    "create_time > 5",
    "create_time > \"2026-13-01T00:00:00Z\"",
    "create_time > \"2026-02-29T00:00:00Z\"",
    "create_time > \"2026-01-01\"",
    "create_time > \"2026-01-01T00:00:00\"",
    "create_time > \"2026-01-01T00:00:00+1:00\"",
    "create_time > \" 2026-01-01T00:00:00Z\"",
    "create_time > \"2026-01-01T00:00:00.Z\"",
    "create_time > now",
    "create_time > \"*\"",
    "create_time > \"20٢6-01-01T00:00:00Z\"",
])
func invalidTimestamps(text: String) throws {
    let error = try #require(parseError(text))
    #expect(error.column == 15)
    #expect(error.message.contains("invalid timestamp"))
    #expect(error.message.contains("at column 15; expected an RFC 3339 timestamp in quotes"))
}

// MARK: - error.code

@Test(arguments: [
    ("error.code = 1", [F]),
    ("error.code = CANCELLED", [F]),
    ("error.code = \"CANCELLED\"", [F]),
    ("error.code = 'cancelled'", [F]),
    ("error.code = \"1\"", [F]),
    ("error.code:1", [F]),
    ("error.code:CANCELLED", [F]),
    ("error.code = 2", []),
    ("error.code = UNKNOWN", []),
    ("error.code != 1", [R, C, S]), // absent: != holds
    ("error.code != 2", [R, C, S, F]),
    ("error.code < 2", [F]),
    ("error.code <= CANCELLED", [F]),
    ("error.code > OK", [F]),
    ("error.code > 1", []),
    ("error.code >= 1", [F]),
    ("error.code = -1", []),
    ("error.code > -1", [F]),
    ("error.code:*", [F]),
    ("error.code = 0", []),
])
func errorCodeField(text: String, expected: [String]) throws {
    #expect(try matching(text) == expected)
}

@Test func everyStatusCodeNameIsAccepted() throws {
    for code in StatusCode.allCases {
        let record = FilterRecord(
            name: "operations/x", done: true, createTime: time("2026-01-01T00:00:00Z"),
            updateTime: time("2026-01-01T00:00:00Z"), endTime: time("2026-01-01T00:00:00Z"), errorCode: code.rawValue
        )
        let byName = try filter("error.code = \(code.name)")
        #expect(byName.matches(record))
        #expect(byName.canonical == "error.code = \(code.rawValue)")
        #expect(byName == (try filter("error.code = \(code.rawValue)")))
    }
    #expect(try filter("error.code = 2147483647").canonical == "error.code = 2147483647")
    #expect(try filter("error.code = -2147483648").canonical == "error.code = -2147483648")
}

@Test(arguments: [
    "error.code = \"NOPE\"", "error.code = NOPE", "error.code = 2147483648", "error.code = -2147483649",
    "error.code = 99999999999999999999999", "error.code = 1.5", "error.code = \"\"", "error.code = \"CANCEL*\"",
    "error.code = \" 1\"", "error.code = true",
])
func invalidErrorCodes(text: String) throws {
    let error = try #require(parseError(text))
    #expect(error.column == 14)
    #expect(error.message.contains("for error.code at column 14; expected a 32-bit integer or a status code name"))
}

// MARK: - Absent values

@Test(arguments: [
    ("end_time", "\"2026-01-01T00:00:00Z\""),
    ("error.code", "1"),
    ("metadata.type", "\"acme.v1.BuildMetadata\""),
    ("response.type", "\"acme.v1.BuildResult\""),
])
func absentValuesSatisfyOnlyNotEqual(field: String, literal: String) throws {
    let record = FilterRecord(
        name: "operations/bare", done: false, createTime: time("2026-01-01T00:00:00Z"),
        updateTime: time("2026-01-01T00:00:00Z")
    )
    for op in ["=", "<", "<=", ">", ">=", ":"] {
        #expect(try !filter("\(field) \(op) \(literal)").matches(record), "\(field) \(op)")
    }
    #expect(try !filter("\(field):*").matches(record))
    #expect(try filter("\(field) != \(literal)").matches(record))
    #expect(try filter("NOT \(field):*").matches(record))
    #expect(try filter("NOT \(field) = \(literal)").matches(record))
}

// MARK: - Logic

@Test func orBindsTighterThanAnd() throws {
    // done AND (cancel_requested OR name = build-1): only the failed operation.
    #expect(try matching("done AND cancel_requested OR name = \"operations/build-1\"") == [F])
    #expect(try matching("(done AND cancel_requested) OR name = \"operations/build-1\"") == [R, F])
    #expect(try filter("done AND cancel_requested OR name = x") == filter("done AND (cancel_requested OR name = x)"))
    #expect(try filter("done AND cancel_requested OR name = x") != filter("(done AND cancel_requested) OR name = x"))
    #expect(try filter("done AND cancel_requested OR name = x").canonical
        == "done = true AND (cancel_requested = true OR name = \"x\")")
    #expect(try filter("done OR cancel_requested AND name = x").canonical
        == "(done = true OR cancel_requested = true) AND name = \"x\"")
    // (done OR cancel_requested) AND name = build-1 → nothing; done OR (...) would match S and F.
    #expect(try matching("done OR cancel_requested AND name = \"operations/build-1\"") == [])
}

@Test func notBindsTighterThanOr() throws {
    #expect(try filter("NOT done OR cancel_requested").canonical == "NOT done = true OR cancel_requested = true")
    #expect(try matching("NOT done OR cancel_requested") == [R, C, F])
    #expect(try matching("NOT (done OR cancel_requested)") == [R])
    #expect(try matching("-done OR cancel_requested") == [R, C, F])
}

@Test func juxtapositionIsAnd() throws {
    let implicit = try filter("done   cancel_requested")
    #expect(implicit == (try filter("done AND cancel_requested")))
    #expect(allRecords.filter(implicit.matches).map(\.name) == [F])
    #expect(try matching("name = \"operations/build-*\" done") == [S, F])
    // Juxtaposition binds like AND, looser than OR.
    #expect(try filter("done cancel_requested OR name = x") == filter("done AND (cancel_requested OR name = x)"))
    #expect(try filter("(done)(cancel_requested)") == filter("done AND cancel_requested"))
}

@Test func notAndMinusNegate() throws {
    #expect(try matching("NOT done") == [R, C])
    #expect(try matching("-done") == [R, C])
    #expect(try matching("- done") == [R, C])
    #expect(try matching("NOT NOT done") == [S, F])
    #expect(try matching("--done") == [S, F])
    #expect(try matching("-name:\"*build*\"") == [C])
    #expect(try matching("NOT error.code = CANCELLED") == [R, C, S])
    #expect(try matching("NOT (done AND cancel_requested)") == [R, C, S])
    #expect(try matching("-(done AND cancel_requested)") == [R, C, S])
    #expect(try filter("-done") == filter("NOT done"))
    #expect(try filter("-done").canonical == "NOT done = true")
    #expect(try filter("NOT done = true").canonical == "NOT done = true")
    #expect(try filter("NOT (done AND cancel_requested)").canonical == "NOT (done = true AND cancel_requested = true)")
}

@Test func uppercaseKeywordsOnly() throws {
    for text in ["done and cancel_requested", "done or cancel_requested", "done And cancel_requested", "not done"] {
        let error = try #require(parseError(text))
        #expect(error.message.contains("use uppercase AND/OR"), "\(text)")
    }
    #expect(parseError("done and cancel_requested")?.column == 6)
    #expect(parseError("not done")?.column == 1)
}

@Test func nestedAndChainsFlatten() throws {
    let flat = try filter("done AND cancel_requested AND name = x")
    #expect(try filter("done AND (cancel_requested AND name = x)") == flat)
    #expect(try filter("((done AND cancel_requested)) AND (((name = x)))") == flat)
    #expect(flat.canonical == "done = true AND cancel_requested = true AND name = \"x\"")
    #expect(try filter("(done OR (cancel_requested OR name = x))").canonical
        == "done = true OR cancel_requested = true OR name = \"x\"")
    #expect(try filter("((((done))))").canonical == "done = true")
}

// MARK: - Canonical form

@Test(arguments: [
    ("done", "done = true"),
    ("done:true", "done = true"),
    ("done != true", "done = false"),
    ("done:*", "done:*"),
    ("name:x", "name = \"x\""),
    ("name:'x*'", "name = \"x*\""),
    ("name = \"*\"", "name:*"),
    ("name = \"**\"", "name:*"),
    ("name = \"***\"", "name = \"***\""),
    ("name != *", "name != \"*\""),
    ("name = 'it\\'s \"q\"'", "name = \"it's \\\"q\\\"\""),
    ("name = \"a\\\\b\\n\\t\"", "name = \"a\\\\b\\n\\t\""),
    ("name<=b", "name <= \"b\""),
    ("metadata.type:*", "metadata.type:*"),
    ("metadata.type:acme.v1.M", "metadata.type = \"acme.v1.M\""),
    ("create_time>\"2026-01-01T01:00:00+01:00\"", "create_time > \"2026-01-01T00:00:00Z\""),
    ("end_time:'2026-01-01T00:00:00.250Z'", "end_time = \"2026-01-01T00:00:00.250Z\""),
    ("error.code:CANCELLED", "error.code = 1"),
    ("error.code >= \"DEADLINE_EXCEEDED\"", "error.code >= 4"),
    ("error.code:*", "error.code:*"),
    ("error.code = -0", "error.code = 0"),
    ("-done", "NOT done = true"),
    ("NOT -done", "NOT NOT done = true"),
    ("done cancel_requested", "done = true AND cancel_requested = true"),
    ("(done OR cancel_requested) (name = a OR name = b)",
     "(done = true OR cancel_requested = true) AND (name = \"a\" OR name = \"b\")"),
    ("NOT (done OR NOT (cancel_requested name = a))",
     "NOT (done = true OR NOT (cancel_requested = true AND name = \"a\"))"),
])
func canonicalForms(text: String, canonical: String) throws {
    let parsed = try filter(text)
    #expect(parsed.canonical == canonical)
    #expect(parsed.description == canonical)
    let again = try filter(parsed.canonical)
    #expect(again.canonical == canonical)
    #expect(again == parsed)
}

@Test(arguments: [
    ("done = false AND name = \"operations/x\"", "  done=false   AND name:'operations/x'  "),
    ("NOT done", "-done"),
    ("NOT done", "NOT (done)"),
    ("error.code = CANCELLED", "error.code = 1"),
    ("error.code = \"CANCELLED\"", "error.code:1"),
    ("create_time > \"2026-01-01T00:00:00Z\"", "create_time > '2026-01-01T02:00:00+02:00'"),
    ("metadata.type = acme.v1.M", "metadata.type:\"acme.v1.M\""),
    ("done cancel_requested", "done AND cancel_requested"),
    ("done AND (cancel_requested OR name = x)", "done AND cancel_requested OR name = x"),
    ("name = \"*\"", "name:*"),
    ("done != false", "done = true"),
])
func equivalentFiltersCompareEqual(lhs: String, rhs: String) throws {
    let a = try filter(lhs)
    let b = try filter(rhs)
    #expect(a == b)
    #expect(a.canonical == b.canonical)
    #expect(a.hashValue == b.hashValue)
    #expect(Set([a, b]).count == 1)
}

@Test(arguments: [
    ("done", "cancel_requested"),
    ("name = \"a\"", "name = \"a*\""),
    ("name = x", "name != x"),
    ("(done AND cancel_requested) OR name = x", "done AND (cancel_requested OR name = x)"),
    ("metadata.type = acme.v1.M", "response.type = acme.v1.M"),
    ("error.code = 1", "error.code = 2"),
    ("create_time > \"2026-01-01T00:00:00Z\"", "create_time >= \"2026-01-01T00:00:00Z\""),
    ("name:*", "name = \"\""),
    ("NOT NOT done", "done"), // double negation is kept: canonical is textual, not semantic
])
func differentFiltersCompareUnequal(lhs: String, rhs: String) throws {
    #expect(try filter(lhs) != filter(rhs))
}

// MARK: - excludesDone

@Test(arguments: [
    "done = false",
    "done != true",
    "NOT done",
    "-done",
    "NOT done = true",
    "NOT done != false",
    "done:false",
    "name = x AND done = false",
    "name = x done = false",
    "name = x AND (done = false AND cancel_requested)",
    "((done = false)) AND error.code:*",
    "(done = false OR NOT done) AND name = x",
    "NOT (done OR name = x)",
    "NOT NOT done = false",
    "NOT (NOT done = false OR name = x)",
    "done = false AND done",
])
func excludesDoneWhenNoFinishedRecordCanMatch(text: String) throws {
    let parsed = try filter(text)
    #expect(parsed.excludesDone)
    // Soundness on the fixtures: no done record matches.
    #expect(!allRecords.filter(\.done).contains(where: parsed.matches))
}

@Test(arguments: [
    "",
    "done",
    "done = true",
    "done:*",
    "done = false OR name = x",
    "name = x OR done = false",
    "NOT done = false",
    "NOT (done = false AND name = x)",
    "NOT NOT done",
    "cancel_requested = false",
    "end_time != \"2026-01-01T00:00:00Z\"",
    "NOT end_time:*", // true for running operations only, but not derived from `done`: conservative
    "name = \"done = false\"",
])
func excludesDoneIsConservative(text: String) throws {
    #expect(try !filter(text).excludesDone)
}

// MARK: - Errors

@Test(arguments: [
    ("foo = 1", 1, "unknown field 'foo' at column 1; filterable fields are: done, name, create_time, update_time, end_time, error.code, cancel_requested, metadata.type, response.type"),
    ("done AND bar:*", 10, "unknown field 'bar' at column 10; filterable fields are: "),
    ("error = 1", 1, "unknown field 'error' at column 1"),
    ("done = ", 6, "expected a value after '=' at column 6"),
    ("name !=", 6, "expected a value after '!=' at column 6"),
    ("name = )", 6, "expected a value after '=' at column 6; found ')'"),
    ("name = = x", 6, "expected a value after '=' at column 6"),
    ("name = AND done", 6, "expected a value after '=' at column 6; found AND"),
    ("done = -", 6, "expected a value after '=' at column 6"),
    ("error.code = - 1", 12, "expected a value after '=' at column 12"),
    ("name = \"abc", 8, "unterminated string starting at column 8"),
    ("name = 'abc\\'", 8, "unterminated string starting at column 8"),
    ("name = \"abc\\", 8, "unterminated string starting at column 8"),
    ("done = true)", 12, "unbalanced ')' at column 12"),
    ("(done))", 7, "unbalanced ')' at column 7"),
    (")", 1, "unbalanced ')' at column 1"),
    ("(done = true", 1, "unbalanced '(' at column 1"),
    ("done AND (name = x OR (cancel_requested)", 10, "unbalanced '(' at column 10"),
    ("(", 1, "unbalanced '(' at column 1"),
    ("()", 1, "expected an expression after '(' at column 1"),
    ("done AND", 6, "expected an expression after AND at column 6"),
    ("done AND )", 6, "expected an expression after AND at column 6"),
    ("done OR", 6, "expected an expression after OR at column 6"),
    ("done OR AND name = x", 6, "expected an expression after OR at column 6"),
    ("AND done", 1, "expected an expression before AND at column 1"),
    ("OR done", 1, "expected an expression before OR at column 1"),
    ("NOT", 1, "expected an expression after NOT at column 1"),
    ("done NOT", 6, "expected an expression after NOT at column 6"),
    ("-", 1, "expected an expression after '-' at column 1"),
    ("name", 1, "field name needs a comparison at column 1; use field = value, e.g. name = \"operations/*\""),
    ("done AND create_time", 10, "field create_time needs a comparison at column 10"),
    ("error.code", 1, "field error.code needs a comparison at column 1; use field = value, e.g. error.code = CANCELLED"),
    ("foo", 1, "bare value 'foo' is not supported at column 1; use field = value"),
    ("\"abc\"", 1, "bare value string 'abc' is not supported at column 1"),
    ("true", 1, "bare value 'true' is not supported at column 1"),
    ("done 5", 6, "bare value '5' is not supported at column 6"),
    ("done and cancel_requested", 6, "'and' is not an operator at column 6; use uppercase AND/OR"),
    ("done or cancel_requested", 6, "'or' is not an operator at column 6; use uppercase AND/OR"),
    ("name == \"x\"", 6, "'==' is not an operator at column 6; use '='"),
    ("!done", 1, "unexpected '!' at column 1"),
    ("name = \"a\\qb\"", 10, "invalid escape '\\q' at column 10"),
    ("= 5", 1, "unexpected '=' at column 1"),
    ("done = true = false", 13, "unexpected '=' at column 13"),
    ("\"x\" = 5", 1, "expected a field name before '=' at column 1"),
    ("done = \"abc\"", 8, "invalid value 'abc' for done at column 8; expected true or false"),
    ("create_time > 5", 15, "invalid timestamp '5' for create_time at column 15; expected an RFC 3339 timestamp"),
    ("error.code = \"NOPE\"", 14, "invalid value 'NOPE' for error.code at column 14"),
    ("done < true", 6, "operator '<' cannot be used with the boolean field done at column 6"),
    ("name = \"é\" é", 12, "bare value 'é' is not supported at column 12"),
    ("name = \"e\u{301}\" x", 12, "bare value 'x' is not supported at column 12"), // columns count characters
    ("name = \"😀\" 😀 = 1", 12, "unknown field '😀' at column 12"),
    ("\r\ndone and x", 7, "'and' is not an operator at column 7"), // "\r\n" is one character
    ("done\r\n\r\nfoo", 7, "bare value 'foo' is not supported at column 7"),
    ("done \u{301}", 5, "bare value '\u{301}' is not supported at column 5"), // the mark joins the space
])
func errorsNameTheirColumn(text: String, column: Int, message: String) throws {
    let error = try #require(parseError(text))
    #expect(error.column == column, "\(text): \(error.message)")
    #expect(error.message.hasPrefix(message), "\(text): \(error.message)")
    #expect(error.description == error.message)
}

@Test func longValuesAreShortenedInMessages() throws {
    let long = String(repeating: "x", count: 500)
    let error = try #require(parseError("\(long) = 1"))
    #expect(error.message.hasPrefix("unknown field '\(String(repeating: "x", count: 64))…' at column 1"))
}

// MARK: - Limits

@Test func lengthLimit() throws {
    #expect(Filter.maximumLength == 4096)
    let prefix = "name = \""
    let atLimit = prefix + String(repeating: "a", count: Filter.maximumLength - prefix.count - 1) + "\""
    #expect(atLimit.count == Filter.maximumLength)
    #expect(try filter(atLimit).canonical == atLimit)

    let overLimit = prefix + String(repeating: "a", count: Filter.maximumLength - prefix.count) + "\""
    let error = try #require(parseError(overLimit))
    #expect(error.column == Filter.maximumLength + 1)
    #expect(error.message == "filter is longer than the maximum of 4096 characters at column 4097")

    // Counted in characters, not bytes or scalars.
    let wide = "name = \"" + String(repeating: "e\u{301}", count: Filter.maximumLength - 9) + "\""
    #expect(wide.count == Filter.maximumLength)
    #expect(wide.unicodeScalars.count > Filter.maximumLength)
    #expect(try filter(wide).canonical == wide)
    #expect(parseError(wide + " ")?.column == Filter.maximumLength + 1) // whitespace counts too
    #expect(parseError(String(repeating: " ", count: Filter.maximumLength)) == nil) // whitespace only, at the limit
    #expect(parseError(String(repeating: " ", count: 1_000_000))?.column == Filter.maximumLength + 1)
}

@Test func canonicalFormMustFitTheLengthLimit() throws {
    // 800 bare booleans fit in 4,096 characters, their canonical form ("done = true AND ...") does not.
    let text = Array(repeating: "done", count: 800).joined(separator: " ")
    #expect(text.count <= Filter.maximumLength)
    let error = try #require(parseError(text))
    #expect(error.column == 1)
    #expect(error.message.contains("too long once normalized"))
    // Fewer terms are fine.
    #expect(try filter(Array(repeating: "done", count: 200).joined(separator: " ")).canonical.count < Filter.maximumLength)
}

@Test func parenthesesNestingLimit() throws {
    #expect(Filter.maximumDepth == 32)
    let deepest = String(repeating: "(", count: 32) + "done" + String(repeating: ")", count: 32)
    #expect(try filter(deepest).canonical == "done = true")
    let tooDeep = String(repeating: "(", count: 33) + "done" + String(repeating: ")", count: 33)
    let error = try #require(parseError(tooDeep))
    #expect(error.column == 33)
    #expect(error.message.hasPrefix("filter nests deeper than the maximum of 32 levels at column 33"))
    // Never recurses unboundedly.
    #expect(parseError(String(repeating: "(", count: 4000))?.column == 33)
}

@Test func negationNestingLimit() throws {
    let deepest = String(repeating: "NOT ", count: 32) + "done"
    #expect(try filter(deepest).matches(succeeded)) // an even number of negations
    let tooDeep = String(repeating: "NOT ", count: 33) + "done"
    let error = try #require(parseError(tooDeep))
    #expect(error.column == 129)
    #expect(error.message.contains("deeper than the maximum of 32 levels"))
    #expect(parseError(String(repeating: "-", count: 3000) + "done")?.column == 33)
    #expect(parseError(String(repeating: "-(", count: 2000) + "done")?.column == 33)
}

@Test func expressionDepthLimit() throws {
    // Each level of parentheses below holds an AND of an OR: two levels of tree per parenthesis.
    func nested(_ levels: Int) -> String {
        var text = "done"
        for _ in 0..<levels { text = "name = x cancel_requested OR (\(text))" }
        return text
    }
    let ok = try filter(nested(16)) // tree depth 32
    #expect(ok.canonical.hasPrefix("name = \"x\" AND (cancel_requested = true OR (name = \"x\" AND"))
    #expect(try filter(ok.canonical) == ok)
    let error = try #require(parseError(nested(17))) // tree depth 34, only 17 parentheses
    #expect(error.message.contains("deeper than the maximum of 32 levels"))
    #expect(error.column > 1)
}

// MARK: - Round trip, robustness

private let grammarTokens = [
    "done", "cancel_requested", "name", "create_time", "update_time", "end_time", "error.code",
    "metadata.type", "response.type", "error", "foo", "AND", "OR", "NOT", "and", "or", "not", "-", "(", ")",
    "=", "!=", "<", "<=", ">", ">=", ":", "==", "!", "*", "true", "false", "TRUE", "\"", "'", "\\",
    "\"2026-01-01T00:00:00Z\"", "'2026-06-01T12:30:00.5+02:00'", "\"1969-12-31T23:59:59.999999999Z\"",
    "\"9999-01-01T00:00:00Z\"", "\"2026-01-01T00:00:00.1234567891Z\"", "CANCELLED", "\"DEADLINE_EXCEEDED\"",
    "ok", "0", "1", "-3", "42", "2147483648", "\"operations/*\"", "operations/build-1", "acme.v1.BuildMetadata",
    "\"*Metadata\"", "\"type.googleapis.com/*\"", "'it\\'s'", "\"a\\\"b\"", "\"\\n\\t\\\\\"", "\"**\"", "\"*\"",
    "é", "e\u{301}", "\u{301}", "😀", "👨‍👩‍👧", "\u{0}", "\r\n", "\t", "\u{3000}", "\u{200B}", "\u{FEFF}",
]

private func randomScalar(_ rng: inout SplitMix64) -> Unicode.Scalar {
    while true {
        let value: UInt32
        switch rng.next() % 4 {
        case 0: value = UInt32(rng.next() % 128)
        case 1: value = 0x80 + UInt32(rng.next() % 0x780)
        case 2: value = 0x300 + UInt32(rng.next() % 0x70) // combining marks
        default: value = UInt32(rng.next() % 0x11_0000)
        }
        if let scalar = Unicode.Scalar(value) { return scalar }
    }
}

/// A random, mostly valid filter built from the grammar.
private func randomExpression(_ rng: inout SplitMix64, depth: Int) -> String {
    func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
    func space() -> String { pick(["", " ", " ", "  ", "\t", "\n"]) }
    if depth > 0, rng.next() % 3 != 0 {
        switch rng.next() % 6 {
        case 0: return randomExpression(&rng, depth: depth - 1) + " AND " + randomExpression(&rng, depth: depth - 1)
        case 1: return randomExpression(&rng, depth: depth - 1) + " OR " + randomExpression(&rng, depth: depth - 1)
        case 2: return randomExpression(&rng, depth: depth - 1) + " " + randomExpression(&rng, depth: depth - 1)
        case 3: return "NOT " + randomExpression(&rng, depth: depth - 1)
        case 4: return "-" + randomExpression(&rng, depth: depth - 1)
        default: return "(" + space() + randomExpression(&rng, depth: depth - 1) + space() + ")"
        }
    }
    let ops = ["=", "!=", "<", "<=", ">", ">=", ":"]
    switch rng.next() % 6 {
    case 0:
        let field = pick(["done", "cancel_requested"])
        return pick([field, field + space() + pick(["=", "!=", ":"]) + space() + pick(["true", "false", "*"])])
    case 1:
        let value = pick(["operations/build-1", "\"operations/*\"", "'*-7'", "\"*uild*\"", "\"*\"", "x", "\"a\\\"b\"", "\"\""])
        return "name" + space() + pick(ops) + space() + value
    case 2:
        let value = pick(["acme.v1.BuildMetadata", "\"*Metadata\"", "\"type.googleapis.com/*\"", "*", "\"acme.v1.*\""])
        return pick(["metadata.type", "response.type"]) + space() + pick(ops) + space() + value
    case 3:
        let value = pick([
            "\"2026-01-01T00:00:00Z\"", "'2026-01-15T09:00:00+01:00'", "\"2026-01-01T00:30:00.5Z\"",
            "\"1677-09-21T00:12:44.145224191Z\"", "\"2262-04-11T23:47:16.854775807Z\"", "*",
        ])
        return pick(["create_time", "update_time", "end_time"]) + space() + pick(ops) + space() + value
    default:
        let value = pick(["1", "CANCELLED", "\"DEADLINE_EXCEEDED\"", "-1", "0", "*", "internal"])
        return "error.code" + space() + pick(ops) + space() + value
    }
}

private func randomText(_ rng: inout SplitMix64) -> String {
    switch rng.next() % 5 {
    case 3:
        // Near the nesting limit: parentheses and negations around and between expressions.
        let open = Int(rng.next() % 40), close = Int(rng.next() % 40)
        var text = ""
        for _ in 0..<open { text += ["(", "NOT ", "-", "(name = x OR "][Int(rng.next() % 4)] }
        text += randomExpression(&rng, depth: Int(rng.next() % 4))
        for _ in 0..<close { text += [")", ") AND done", " OR (done))"][Int(rng.next() % 3)] }
        return text
    case 4:
        // Near the length limit: many terms, often with a longer canonical form.
        let pieces = Int(rng.next() % 400)
        var text = ""
        for _ in 0..<pieces {
            text += randomExpression(&rng, depth: Int(rng.next() % 2)) + ["  ", " AND ", " OR ", " "][Int(rng.next() % 4)]
        }
        return text + "done"
    case 0:
        var text = randomExpression(&rng, depth: Int(rng.next() % 6))
        // Mutate a few scalars: delete, duplicate or replace with a random token or scalar.
        for _ in 0..<Int(rng.next() % 3) {
            var scalars = Array(text.unicodeScalars)
            guard !scalars.isEmpty else { break }
            let index = Int(rng.next() % UInt64(scalars.count))
            switch rng.next() % 3 {
            case 0: scalars.remove(at: index)
            case 1: scalars.insert(contentsOf: grammarTokens[Int(rng.next() % UInt64(grammarTokens.count))].unicodeScalars, at: index)
            default: scalars[index] = randomScalar(&rng)
            }
            text = String(String.UnicodeScalarView(scalars))
        }
        return text
    case 1:
        return randomExpression(&rng, depth: Int(rng.next() % 5))
    default:
        var text = ""
        for _ in 0..<Int(rng.next() % 16) {
            switch rng.next() % 5 {
            case 0: text.unicodeScalars.append(randomScalar(&rng))
            case 1: text += " "
            default: text += grammarTokens[Int(rng.next() % UInt64(grammarTokens.count))]
            }
            if rng.next() % 2 == 0 { text += " " }
        }
        return text
    }
}

private func checkRoundTrip(seed: UInt64, count: Int) throws {
    print("FilterTests random round trip: seed \(seed)")
    var rng = SplitMix64(seed: seed)
    var parsedCount = 0
    for iteration in 0..<count {
        let text = randomText(&rng)
        let context = Comment(rawValue: "seed \(seed) iteration \(iteration): \(text.debugDescription)")
        let first: Filter
        do {
            first = try Filter(parsing: text)
        } catch {
            #expect(error.column >= 1 && error.column <= text.count + 1, context)
            #expect(error.message.contains("at column \(error.column)"), context)
            continue
        }
        parsedCount += 1
        #expect(first.canonical.count <= Filter.maximumLength, context)
        let second: Filter
        do {
            second = try Filter(parsing: first.canonical)
        } catch {
            Issue.record("canonical \(first.canonical.debugDescription) failed to parse: \(error); \(context)")
            continue
        }
        #expect(second.canonical == first.canonical, context)
        #expect(second == first, context)
        #expect(second.isEmpty == first.isEmpty, context)
        #expect(second.excludesDone == first.excludesDone, context)
        for record in allRecords {
            #expect(second.matches(record) == first.matches(record), context)
            if first.excludesDone && record.done { #expect(!first.matches(record), context) }
        }
        // NOT (…) negates, whenever it still fits the limits.
        if !first.isEmpty, let negated = try? Filter(parsing: "NOT (" + first.canonical + ")") {
            for record in allRecords {
                #expect(negated.matches(record) == !first.matches(record), context)
            }
        }
    }
    print("FilterTests random round trip: seed \(seed), \(parsedCount) of \(count) parsed")
    #expect(parsedCount > count / 5) // the generator must exercise successful parses too
    #expect(parsedCount < count) // …and errors
}

@Test func randomInputsParseOrFailCleanlyAndRoundTrip() throws {
    try checkRoundTrip(seed: 0x5EED_F11E_2026, count: 12_000)
    try checkRoundTrip(seed: UInt64.random(in: 0...UInt64.max), count: 8_000)
}

// MARK: - Performance

@Test func aFourConditionConjunctionMatchesExactlyTheRecordsItDescribes() throws {
    let parsed = try filter(
        "done = false AND metadata.type = acme.v1.BuildMetadata AND create_time > \"2026-01-01T00:00:00Z\" AND name:\"*build*\""
    )
    let records = (0..<1000).map { index in
        FilterRecord(
            name: "operations/build-\(index)", done: index % 3 == 0,
            createTime: Timestamp(seconds: 1_767_225_600 + Int64(index)), updateTime: Timestamp(seconds: 1_767_225_600),
            metadataType: buildType
        )
    }
    let hits = records.filter { parsed.matches($0) }.count
    #expect(hits == records.filter { !$0.done && $0.createTime > time("2026-01-01T00:00:00Z") }.count)
}
