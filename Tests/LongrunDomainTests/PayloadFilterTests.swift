import LongrunTestSupport
import Testing
@testable import LongrunDomain

// Filters that reach inside metadata and response: `metadata.percent_done > 50`.

// MARK: - Fixtures

/// acme.v1.BuildMetadata as a producer's descriptor set would declare it.
let buildSchemas: PayloadSchemas = {
    let stage = EnumSchema(fullName: "acme.v1.Stage", numbers: ["STAGE_UNSPECIFIED": 0, "COMPILING": 1, "LINKING": 2])
    let metadata = MessageSchema(fullName: "acme.v1.BuildMetadata", fields: [
        FieldSchema(name: "percent_done", number: 1, kind: .int32),
        FieldSchema(name: "stage", number: 2, kind: .enumeration(stage)),
        FieldSchema(name: "host", number: 3, kind: .string),
        FieldSchema(name: "tags", number: 4, kind: .string, repeated: true),
        FieldSchema(name: "step", number: 5, kind: .message("acme.v1.Step")),
        FieldSchema(name: "counts", number: 6, kind: .int64, repeated: true),
        FieldSchema(name: "ratio", number: 7, kind: .double),
        FieldSchema(name: "labels", number: 8, kind: .message("acme.v1.BuildMetadata.LabelsEntry"), repeated: true),
        FieldSchema(name: "note", number: 9, kind: .string, defaultWhenAbsent: false),
        FieldSchema(name: "delta", number: 10, kind: .sint64),
        FieldSchema(name: "ok", number: 11, kind: .bool),
        FieldSchema(name: "info", number: 12, kind: .message("google.protobuf.Struct")),
        FieldSchema(name: "size", number: 13, kind: .uint64),
    ])
    let labels = MessageSchema(fullName: "acme.v1.BuildMetadata.LabelsEntry", fields: [
        FieldSchema(name: "key", number: 1, kind: .string),
        FieldSchema(name: "value", number: 2, kind: .string),
    ], isMapEntry: true)
    let step = MessageSchema(fullName: "acme.v1.Step", fields: [
        FieldSchema(name: "name", number: 1, kind: .string),
        FieldSchema(name: "attempts", number: 2, kind: .uint64),
    ])
    let result = MessageSchema(fullName: "acme.v1.BuildResult", fields: [
        FieldSchema(name: "artifact", number: 1, kind: .string),
    ])
    return try! PayloadSchemas(registering: [metadata, labels, step, result])
}()

private let metadataURL = "type.googleapis.com/acme.v1.BuildMetadata"

private func payload(_ type: String, _ body: (inout WireWriter) -> Void) -> Payload {
    var writer = WireWriter()
    body(&writer)
    return Payload(typeURL: type.contains("/") ? type : "type.googleapis.com/" + type, value: writer.bytes)
}

private func record(metadata: Payload? = nil, response: Payload? = nil) -> FilterRecord {
    FilterRecord(
        name: "operations/x", done: response != nil, createTime: Timestamp(seconds: 1, nanos: 0), updateTime: Timestamp(seconds: 1, nanos: 0),
        metadataType: metadata?.typeURL, responseType: response?.typeURL, metadata: metadata, response: response
    )
}

/// percent_done 60, LINKING, host "build-7", tags [fast, arm], step {compile, 3}, counts packed [1, 3, 5],
/// ratio 0.5, labels {team: infra}, delta -4, ok, info {owner: "ada"}, size 2^63.
private let build = payload(metadataURL) { w in
    w.int(1, 60)
    w.uint(2, 2)
    w.string(3, "build-7")
    w.string(4, "fast")
    w.string(4, "arm")
    w.message(5) { step in
        step.string(1, "compile")
        step.uint(2, 3)
    }
    w.message(6) { packed in
        packed.varint(1)
        packed.varint(3)
        packed.varint(5)
    }
    w.fixed64(7, 0.5.bitPattern)
    w.message(8) { entry in
        entry.string(1, "team")
        entry.string(2, "infra")
    }
    w.sint(10, -4)
    w.uint(11, 1)
    w.message(12) { info in structEntry(&info, "owner") { $0.string(3, "ada") } }
    w.uint(13, 1 << 63)
}

/// The same type with every field unset (all defaults).
private let emptyBuild = Payload(typeURL: metadataURL, value: [])

/// One `fields` entry of a google.protobuf.Struct, its Value written by `value`.
private func structEntry(_ w: inout WireWriter, _ key: String, _ value: (inout WireWriter) -> Void) {
    w.message(1) { entry in
        entry.string(1, key)
        entry.message(2, value)
    }
}

/// A google.protobuf.Struct: {stage: "LINKING", percent: 75, done: false, tags: ["a", "b"], nested: {deep: "x"}, gone: null}.
private let structMetadata = payload("google.protobuf.Struct") { w in
    structEntry(&w, "stage") { $0.string(3, "LINKING") }
    structEntry(&w, "percent") { $0.fixed64(2, 75.0.bitPattern) }
    structEntry(&w, "done") { $0.uint(4, 0, always: true) }
    structEntry(&w, "tags") { v in
        v.message(6) { list in
            list.message(1) { $0.string(3, "a") }
            list.message(1) { $0.string(3, "b") }
        }
    }
    structEntry(&w, "nested") { v in
        v.message(5) { inner in structEntry(&inner, "deep") { $0.string(3, "x") } }
    }
    structEntry(&w, "gone") { $0.uint(1, 0, always: true) }
}

private func matches(_ text: String, _ record: FilterRecord, schemas: PayloadSchemas = buildSchemas) throws -> Bool {
    try Filter(parsing: text, schemas: schemas).matches(record)
}

private func parseError(_ text: String, schemas: PayloadSchemas = buildSchemas) -> FilterError? {
    do {
        _ = try Filter(parsing: text, schemas: schemas)
        return nil
    } catch {
        return error
    }
}

// MARK: - Typed messages from a descriptor set

@Test(arguments: [
    ("metadata.percent_done > 50", true),
    ("metadata.percent_done >= 60", true),
    ("metadata.percent_done < 50", false),
    ("metadata.percent_done = 60", true),
    ("metadata.percent_done != 60", false),
    ("metadata.percent_done > 59.5", true),
    ("metadata.percent_done > -1", true),
    ("metadata.percent_done:60", true),
    ("metadata.stage = LINKING", true),
    ("metadata.stage = \"LINKING\"", true),
    ("metadata.stage = 2", true),
    ("metadata.stage != COMPILING", true),
    ("metadata.stage = COMPILING", false),
    ("metadata.stage > COMPILING", true),
    ("metadata.host = \"build-*\"", true),
    ("metadata.host = \"*-7\"", true),
    ("metadata.host != \"build-*\"", false),
    ("metadata.host:build-7", true),
    ("metadata.host > \"build-6\"", true),
    ("metadata.tags:fast", true),
    ("metadata.tags:\"a*\"", true),
    ("metadata.tags:slow", false),
    ("metadata.tags:*", true),
    ("metadata.step.attempts > 2", true),
    ("metadata.step.name = compile", true),
    ("metadata.step:*", true),
    ("metadata.counts:3", true),
    ("metadata.counts:4", false),
    ("metadata.ratio < 0.75", true),
    ("metadata.ratio = 0.5", true),
    ("metadata.labels.team = infra", true),
    ("metadata.labels.team:*", true),
    ("metadata.labels.owner = infra", false),
    ("NOT metadata.labels.owner = infra", true),
    ("metadata.note:*", false),
    ("metadata.note = \"\"", false),
    ("metadata.delta < 0", true),
    ("metadata.delta = -4", true),
    ("metadata.ok = true", true),
    ("metadata.ok != true", false),
    ("metadata.info.owner = ada", true),
    ("metadata.info.owner = bob", false),
    ("metadata.size > 9223372036854775807", true),
    ("metadata.size > -1", true),
    ("metadata.size = 9223372036854775808", true),
    ("metadata.percent_done > 50 AND metadata.type = acme.v1.BuildMetadata", true),
    ("metadata.percent_done > 90 OR metadata.stage = LINKING", true),
])
func typedMetadataFields(text: String, expected: Bool) throws {
    #expect(try matches(text, record(metadata: build)) == expected, "\(text)")
}

@Test(arguments: [
    ("metadata.percent_done = 0", true),
    ("metadata.percent_done < 50", true),
    ("metadata.stage = STAGE_UNSPECIFIED", true),
    ("metadata.host = \"\"", true),
    ("metadata.ok = false", true),
    ("metadata.percent_done:*", false),
    ("metadata.tags:*", false),
    ("metadata.step.attempts = 0", false), // the message is absent: nothing to traverse
    ("metadata.step:*", false),
    ("metadata.note = \"\"", false),        // explicit presence: absent is absent
])
func unsetScalarsReadAsTheirDefaults(text: String, expected: Bool) throws {
    #expect(try matches(text, record(metadata: emptyBuild)) == expected, "\(text)")
}

@Test func responseFieldsAreReachedLikeMetadata() throws {
    let result = payload("acme.v1.BuildResult") { $0.string(1, "out/app.tar") }
    let done = record(metadata: build, response: result)
    #expect(try matches("response.artifact : \"*.tar\"", done))
    #expect(try !matches("response.artifact = \"*.zip\"", done))
    #expect(try !matches("response.artifact:*", record(metadata: build)))
    #expect(try matches("NOT response.artifact:*", record(metadata: build)))
}

@Test(arguments: ["metadata.percent_done > 50", "metadata.percent_done != 60", "metadata.percent_done < 50", "metadata.host != x"])
func anOperationWithoutTheTypeDoesNotMatchAndItsNegationDoes(text: String) throws {
    let other = payload("acme.v1.BuildResult") { $0.string(1, "x") }
    for subject in [record(), record(metadata: other), record(metadata: Payload(typeURL: "type.googleapis.com/acme.v1.Unknown", value: [8, 1]))] {
        #expect(try !matches(text, subject), "\(text)")
        #expect(try matches("NOT (\(text))", subject), "\(text)")
    }
}

// MARK: - Well-known types without a descriptor set

@Test(arguments: [
    ("metadata.stage = \"LINKING\"", true),
    ("metadata.stage = LINK*", true),
    ("metadata.stage != LINKING", false),
    ("metadata.percent > 50", true),
    ("metadata.percent = 75", true),
    ("metadata.percent < 75", false),
    ("metadata.done = false", true),
    ("metadata.done = true", false),
    ("metadata.tags:a", true),
    ("metadata.tags:c", false),
    ("metadata.tags:*", true),
    ("metadata.nested.deep = x", true),
    ("metadata.nested:*", true),
    ("metadata.gone:*", true),
    ("metadata.gone = null", true),
    ("metadata.missing:*", false),
    ("metadata.missing = x", false),
    ("metadata.missing != x", false),
    ("NOT metadata.missing = x", true),
    ("metadata.stage < \"M\"", true), // a string compares as a string
    ("metadata.stage > \"M\"", false),
    ("metadata.percent > \"100\"", false), // a number as a number, quoted or not
])
func structMetadataIsReadByKey(text: String, expected: Bool) throws {
    #expect(try matches(text, record(metadata: structMetadata), schemas: .wellKnown) == expected, "\(text)")
}

@Test func wrappersHaveTheirValue() throws {
    let int64 = payload("google.protobuf.Int64Value") { $0.int(1, 7) }
    let zero = Payload(typeURL: "type.googleapis.com/google.protobuf.Int64Value", value: [])
    let text = payload("google.protobuf.StringValue") { $0.string(1, "ready") }
    #expect(try matches("metadata.value > 3", record(metadata: int64), schemas: .wellKnown))
    #expect(try !matches("metadata.value > 7", record(metadata: int64), schemas: .wellKnown))
    #expect(try matches("metadata.value = 0", record(metadata: zero), schemas: .wellKnown))
    #expect(try matches("metadata.value = rea*", record(metadata: text), schemas: .wellKnown))
    #expect(try matches("metadata.value > 3", record(metadata: int64)), "with a descriptor set too")
}

@Test func withoutADescriptorSetAnyPathIsAccepted() throws {
    let filter = try Filter(parsing: "metadata.anything.at.all = 1 AND response.x:*")
    #expect(!filter.matches(record(metadata: build)))
}

// MARK: - Validation against the registered types

@Test(arguments: [
    ("metadata.percnt_done > 50", 1, "unknown field 'metadata.percnt_done' at column 1; no registered message type declares percnt_done; start longrund with --descriptor-set"),
    ("done AND metadata.step.atempts = 1", 10, "unknown field 'metadata.step.atempts' at column 10"),
    ("metadata.stage.x = 1", 1, "unknown field 'metadata.stage.x' at column 1"),
    ("metadata.percent_done > \"abc\"", 25, "invalid value 'abc' for metadata.percent_done at column 25; metadata.percent_done is int32 in acme.v1.BuildMetadata: expected a number"),
    ("metadata.stage = BUILDING", 18, "invalid value 'BUILDING' for metadata.stage at column 18; metadata.stage is acme.v1.Stage in acme.v1.BuildMetadata: expected a value name (STAGE_UNSPECIFIED, COMPILING, LINKING) or number"),
    ("metadata.ok > true", 13, "operator '>' cannot be used with metadata.ok at column 13"),
    ("metadata.ok = yes", 15, "invalid value 'yes' for metadata.ok at column 15; metadata.ok is bool"),
    ("metadata.tags = fast", 15, "operator '=' cannot be used with metadata.tags at column 15; metadata.tags is repeated string in acme.v1.BuildMetadata: test its elements with ':'"),
    ("metadata.step = x", 17, "invalid value 'x' for metadata.step at column 17; metadata.step is a message (acme.v1.Step) in acme.v1.BuildMetadata: only metadata.step:* (is it set) tests it"),
    ("metadata..x = 1", 1, "invalid field 'metadata..x' at column 1"),
    ("metadata. = 1", 1, "invalid field 'metadata.' at column 1"),
])
func pathsAndValuesAreCheckedWhenParsed(text: String, column: Int, message: String) throws {
    let error = try #require(parseError(text))
    #expect(error.column == column, "\(text): \(error.message)")
    #expect(error.message.hasPrefix(message), "\(text): \(error.message)")
}

@Test func withADescriptorSetStructKeysNeedADeclaredPath() throws {
    // Struct declares any key, so it cannot vouch for a path: a typo would otherwise match nothing, silently.
    #expect(parseError("metadata.percent > 50") != nil)
    // A declared path also reads Struct metadata, by key.
    let structLinking = payload("google.protobuf.Struct") { w in structEntry(&w, "stage") { $0.string(3, "LINKING") } }
    #expect(try matches("metadata.stage = LINKING", record(metadata: structLinking)))
    #expect(try !matches("metadata.stage = COMPILING", record(metadata: structLinking)))
}

@Test func pathsAreBoundedInDepth() throws {
    let deep = "metadata." + Array(repeating: "a", count: Filter.maximumPayloadSegments).joined(separator: ".")
    _ = try Filter(parsing: deep + ":*")
    let error = try #require(parseError(deep + ".a:*", schemas: .wellKnown))
    #expect(error.message.contains("deeper than the maximum of \(Filter.maximumPayloadSegments) levels"))
}

@Test func typeFieldsStayBuiltIn() throws {
    #expect(try matches("metadata.type = acme.v1.BuildMetadata", record(metadata: build)))
    #expect(try matches("response.type:*", record(response: build)))
}

@Test(arguments: [
    "metadata.percent_done > 50",
    "metadata.stage = LINKING AND NOT metadata.host = \"a b\"",
    "metadata.tags:fast OR metadata.labels.team:*",
    "metadata.delta < -3",
    "metadata.host = 'x\"y'",
])
func canonicalFormParsesBackToItself(text: String) throws {
    let filter = try Filter(parsing: text, schemas: buildSchemas)
    let again = try Filter(parsing: filter.canonical, schemas: buildSchemas)
    #expect(again.canonical == filter.canonical)
    #expect(again.matches(record(metadata: build)) == filter.matches(record(metadata: build)))
}

@Test func aTypeDeclaredTwiceDifferentlyIsRefused() throws {
    let one = MessageSchema(fullName: "a.B", fields: [FieldSchema(name: "x", number: 1, kind: .int32)])
    let two = MessageSchema(fullName: "a.B", fields: [FieldSchema(name: "x", number: 1, kind: .string)])
    #expect(throws: PayloadSchemaError.self) { try PayloadSchemas(registering: [one, two]) }
    let dangling = MessageSchema(fullName: "a.C", fields: [FieldSchema(name: "y", number: 1, kind: .message("a.Missing"))])
    #expect(throws: PayloadSchemaError.self) { try PayloadSchemas(registering: [dangling]).checkReferences() }
}

// MARK: - Hostile bytes

@Test func truncatedAndDamagedPayloadsNeverTrap() throws {
    let filters = try [
        "metadata.percent_done > 50", "metadata.stage = LINKING", "metadata.tags:fast", "metadata.step.attempts > 2",
        "metadata.counts:3", "metadata.labels.team = infra", "metadata.info.owner = ada", "metadata.ratio < 1", "metadata.step:*",
    ].map { try Filter(parsing: $0, schemas: buildSchemas) }
    // Every prefix of a valid payload: lengths past the end, varints cut short.
    for end in 0...build.value.count {
        let cut = record(metadata: Payload(typeURL: metadataURL, value: Array(build.value[..<end])))
        for filter in filters { _ = filter.matches(cut) }
    }
    // A varint longer than 10 bytes, a length of 2^64-1, a group, wire type 7, field number 0.
    let hostile: [[UInt8]] = [
        Array(repeating: 0xFF, count: 64), [0x2A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        [0x0B, 0x08, 0x01, 0x0C], [0x0F, 0x01], [0x00, 0x01], [0x08], [0x22], [0x2A, 0x05, 0x10],
    ]
    for bytes in hostile {
        let subject = record(metadata: Payload(typeURL: metadataURL, value: bytes))
        for filter in filters { _ = filter.matches(subject) }
    }
}
