// libFuzzer target: AIP-160 filter text, as ListOperations receives it.
//
// Properties: a rejected filter reports a column inside the text (or one past it); an accepted one
// has a canonical form that parses back to itself and to a filter that matches the same records,
// `NOT (canonical)` matches exactly the other records, and `excludesDone` never lies.
import LongrunDomain

private func time(_ text: String) -> Timestamp {
    guard let timestamp = RFC3339.parse(text) else { fatalError("bad fixture timestamp \(text)") }
    return timestamp
}

/// Records that differ in every field a filter can name, including absent values and edge times.
private let records: [FilterRecord] = [
    FilterRecord(name: "operations/build-1", done: false, createTime: time("2026-03-01T12:00:00Z"),
                 updateTime: time("2026-03-01T12:05:00Z"), metadataType: "type.googleapis.com/acme.v1.BuildMetadata"),
    FilterRecord(name: "tenants/acme/operations/tmp-2", done: true, createTime: time("2026-01-01T00:00:00Z"),
                 updateTime: time("2026-01-02T00:00:00.5Z"), endTime: time("2026-01-02T00:00:00.5Z"),
                 metadataType: "type.googleapis.com/acme.v1.BuildMetadata", responseType: "type.googleapis.com/acme.v1.BuildResult"),
    FilterRecord(name: "operations/c", done: true, createTime: Timestamp(nanosecondsSinceEpoch: 0),
                 updateTime: Timestamp(nanosecondsSinceEpoch: 1), endTime: Timestamp(nanosecondsSinceEpoch: 1),
                 errorCode: 1, cancelRequested: true),
    FilterRecord(name: "projects/p/locations/l/operations/d-9", done: true, createTime: Timestamp(nanosecondsSinceEpoch: .min + 999_999_999),
                 updateTime: Timestamp(nanosecondsSinceEpoch: .max), endTime: Timestamp(nanosecondsSinceEpoch: .max),
                 errorCode: -7, metadataType: "acme.Meta", responseType: ""),
    FilterRecord(name: "operations/ünï", done: false, createTime: Timestamp(nanosecondsSinceEpoch: -1),
                 updateTime: Timestamp(nanosecondsSinceEpoch: 0), cancelRequested: true, metadataType: "x/y/z*"),
    FilterRecord(name: "", done: true, createTime: time("2262-04-11T23:47:16.854775807Z"),
                 updateTime: time("2262-04-11T23:47:16.854775807Z"), endTime: time("1970-01-01T00:00:00Z"),
                 errorCode: Int32.max, responseType: "type.googleapis.com/google.protobuf.Empty"),
    FilterRecord(name: "operations/\"quoted\"\\ \t\n", done: true, createTime: time("1999-12-31T23:59:59.999999999Z"),
                 updateTime: time("2000-01-01T00:00:00Z"), endTime: time("2000-01-01T00:00:00Z"), errorCode: Int32.min),
]

private func fail(_ message: String) -> Never {
    fatalError(message)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    check(String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self))
    return 0
}

private func check(_ text: String) {
    let filter: Filter
    do {
        filter = try Filter(parsing: text)
    } catch {
        let characters = text.count
        guard error.column >= 1, error.column <= characters + 1 else {
            fail("column \(error.column) outside 1...\(characters + 1) for \(text.debugDescription): \(error)")
        }
        guard error.message.contains("column \(error.column)") else {
            fail("message does not name column \(error.column): \(error.message)")
        }
        return
    }
    guard text.count <= Filter.maximumLength else { fail("accepted \(text.count) characters") }
    let canonical = filter.canonical
    guard filter.isEmpty == canonical.isEmpty, canonical.count <= Filter.maximumLength else {
        fail("bad canonical \(canonical.debugDescription) for \(text.debugDescription)")
    }
    let again: Filter
    do {
        again = try Filter(parsing: canonical)
    } catch {
        fail("canonical \(canonical.debugDescription) of \(text.debugDescription) does not parse: \(error)")
    }
    guard again.canonical == canonical, again == filter else {
        fail("canonical \(canonical.debugDescription) reparses as \(again.canonical.debugDescription)")
    }
    for record in records {
        let matched = filter.matches(record)
        guard again.matches(record) == matched else {
            fail("\(text.debugDescription) and its canonical \(canonical.debugDescription) disagree on \(record)")
        }
        if filter.excludesDone && record.done && matched {
            fail("\(canonical.debugDescription) claims to exclude done operations but matches \(record)")
        }
    }
    // Negation: when it fits the limits, NOT (f) is the complement of f on every record.
    if !filter.isEmpty, let negated = try? Filter(parsing: "NOT (" + canonical + ")") {
        for record in records where negated.matches(record) == filter.matches(record) {
            fail("NOT (\(canonical)) agrees with \(canonical) on \(record)")
        }
    }
}
