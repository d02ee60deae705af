public import LongrunDomain

/// What every AIP-160 filter text must satisfy, checked by the seeded tests
/// (`Tests/LongrunDomainTests/FuzzPropertyTests.swift`) and by Tools/fuzz's `fuzz-filter`: one copy
/// of the records and of the properties, so that the two layers cannot drift apart.
public enum FilterProperties {
    /// Records that differ in every field a filter can name, including absent values, extreme
    /// times and payloads the well-known types read (whole, damaged, a wrapper).
    public static let records: [FilterRecord] = {
        func time(_ text: String) -> Timestamp {
            guard let timestamp = RFC3339.parse(text) else { fatalError("bad fixture timestamp \(text)") }
            return timestamp
        }
        return [
            FilterRecord(name: "operations/build-1", done: false, createTime: time("2026-03-01T12:00:00Z"),
                         updateTime: time("2026-03-01T12:05:00Z"), metadataType: "type.googleapis.com/acme.v1.BuildMetadata"),
            FilterRecord(name: "tenants/acme/operations/tmp-2", done: true, createTime: time("2026-01-01T00:00:00Z"),
                         updateTime: time("2026-01-02T00:00:00.5Z"), endTime: time("2026-01-02T00:00:00.5Z"),
                         metadataType: "type.googleapis.com/acme.v1.BuildMetadata", responseType: "type.googleapis.com/acme.v1.BuildResult"),
            FilterRecord(name: "operations/c", done: true, createTime: Timestamp(nanosecondsSinceEpoch: 0),
                         updateTime: Timestamp(nanosecondsSinceEpoch: 1), endTime: Timestamp(nanosecondsSinceEpoch: 1),
                         errorCode: 1, cancelRequested: true),
            // The earliest time a filter literal can name (RFC 3339 to whole nanoseconds above Int64.min).
            FilterRecord(name: "projects/p/locations/l/operations/d-9", done: true,
                         createTime: Timestamp(nanosecondsSinceEpoch: .min + 999_999_999),
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
                         metadata: Payload(typeURL: "type.googleapis.com/google.protobuf.Struct", value: structBytes)),
            FilterRecord(name: "operations/w", done: true, createTime: time("2026-03-01T12:00:00Z"), updateTime: time("2026-03-01T12:00:00Z"),
                         endTime: time("2026-03-01T12:00:00Z"), metadataType: "type.googleapis.com/google.protobuf.Struct",
                         responseType: "type.googleapis.com/google.protobuf.Int64Value",
                         metadata: Payload(typeURL: "type.googleapis.com/google.protobuf.Struct", value: Array(structBytes.dropLast(3))),
                         response: Payload(typeURL: "type.googleapis.com/google.protobuf.Int64Value", value: [0x08, 0x07])),
            FilterRecord(name: "operations/\"quoted\"\\ \t\n", done: true, createTime: time("1999-12-31T23:59:59.999999999Z"),
                         updateTime: time("2000-01-01T00:00:00Z"), endTime: time("2000-01-01T00:00:00Z"), errorCode: Int32.min),
        ]
    }()

    /// `google.protobuf.Struct {stage: "LINKING", a: {b: 2}}`, encoded.
    public static let structBytes: [UInt8] = {
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

    /// Filters that exercise every production, literal kind and error path: the seeded tests start
    /// from them and `Tools/fuzz/corpus/filter` is written from them.
    public static let seeds: [String] = [
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

    /// A description of the first property `text` breaks, or nil: a rejected filter names a column
    /// inside the text (or one past it); an accepted one is at most ``Filter/maximumLength``
    /// characters, its canonical form fits too and parses back to the same filter, which matches
    /// the same records; `NOT (canonical)` matches exactly the other records; and `excludesDone`
    /// never holds for a filter that matches a done record.
    public static func violation(_ text: String) -> String? {
        let filter: Filter
        do {
            filter = try Filter(parsing: text)
        } catch {
            guard error.column >= 1, error.column <= text.count + 1 else { return "column \(error.column) outside 1...\(text.count + 1): \(error)" }
            guard error.message.contains("column \(error.column)") else { return "message does not name its column \(error.column): \(error.message)" }
            return nil
        }
        guard text.count <= Filter.maximumLength else { return "accepted \(text.count) characters" }
        let canonical = filter.canonical
        guard filter.isEmpty == canonical.isEmpty, canonical.count <= Filter.maximumLength else {
            return "bad canonical \(canonical.debugDescription)"
        }
        let again: Filter
        do { again = try Filter(parsing: canonical) } catch { return "canonical \(canonical.debugDescription) does not parse: \(error)" }
        guard again.canonical == canonical, again == filter else {
            return "canonical \(canonical.debugDescription) parses as \(again.canonical.debugDescription)"
        }
        for record in records {
            let matched = filter.matches(record)
            if again.matches(record) != matched { return "its canonical \(canonical.debugDescription) disagrees on \(record)" }
            if filter.excludesDone && record.done && matched { return "excludesDone but matches \(record)" }
        }
        // Negation: when it fits the limits, NOT (f) is the complement of f on every record.
        if !filter.isEmpty, let negated = try? Filter(parsing: "NOT (" + canonical + ")") {
            for record in records where negated.matches(record) == filter.matches(record) {
                return "NOT (\(canonical)) is not the complement on \(record)"
            }
        }
        return nil
    }
}
