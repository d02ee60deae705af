import LongrunDomain
import LongrunEngine
import LongrunTestSupport
import Testing

/// Filters on fields inside the metadata and response, through List and the bulk calls, with the
/// types the daemon registers from `--descriptor-set`; on every backend.
@Suite("Engine: filters inside payloads")
struct PayloadFilterEngineTests {
    static let schemas = try! PayloadSchemas(registering: [
        MessageSchema(fullName: "acme.v1.Build", fields: [
            FieldSchema(name: "percent_done", number: 1, kind: .int32),
            FieldSchema(name: "stage", number: 2, kind: .string),
        ]),
    ])

    static func build(percent: Int64, stage: String) -> Payload {
        var writer = WireWriter()
        writer.int(1, percent)
        writer.string(2, stage)
        return Payload(typeURL: "type.googleapis.com/acme.v1.Build", value: writer.bytes)
    }

    @Test(arguments: TestBackend.available)
    func listAndBulkReachInsideMetadata(on backend: TestBackend) async throws {
        try await withStorePlace(backend) { place in
            let engine = try await place.openEngine { $0.payloadSchemas = Self.schemas }
            defer { engine.close() }
            var names: [OperationName] = []
            for (index, percent) in [0, 25, 50, 75, 100].enumerated() {
                let metadata = Self.build(percent: Int64(percent), stage: percent < 50 ? "COMPILING" : "LINKING")
                names.append(try await engine.create(CreateRequest(id: "build-\(index)", metadata: metadata), actor: Fixtures.producer).name)
            }
            let plain = try await engine.create(CreateRequest(id: "plain"), actor: Fixtures.producer).name
            let other = try await engine.create(CreateRequest(id: "other", metadata: Fixtures.payload("acme.v1.Other", "x")), actor: Fixtures.producer).name

            let over = try await engine.list(ListRequest(filter: "metadata.percent_done > 50"))
            #expect(over.operations.map(\.name) == [names[3], names[4]])
            // AIP-160: a value that is not there does not match, and its negation does.
            let notOver = try await engine.list(ListRequest(filter: "NOT metadata.percent_done > 50"))
            #expect(notOver.operations.map(\.name) == [names[0], names[1], names[2], plain, other])

            // Pages of one, with the filter bound to the token.
            var token = ""
            var paged: [OperationName] = []
            repeat {
                let page = try await engine.list(ListRequest(filter: "metadata.stage = \"LINK*\"", pageSize: 1, pageToken: token))
                paged += page.operations.map(\.name)
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(paged == [names[2], names[3], names[4]])

            // A progress update moves an operation in or out of the filter.
            _ = try await engine.progress(names[0], metadata: Self.build(percent: 90, stage: "LINKING"), actor: Fixtures.producer)
            #expect(try await engine.list(ListRequest(filter: "metadata.percent_done >= 90")).operations.map(\.name) == [names[0], names[4]])

            await expectDomainError(.invalidArgument, .invalidFilter) { _ = try await engine.list(ListRequest(filter: "metadata.percnt_done > 50")) }

            let report = try await engine.bulk(.cancel(reason: "slow"), name: "", filter: "metadata.percent_done < 50", actor: Fixtures.producer, access: .unrestricted)
            #expect(report.matched == 1 && report.changed == 1)
            #expect(try await engine.get(names[1]).cancelRequest?.reason == "slow")
            #expect(try await engine.get(names[0]).cancelRequest == nil)
        }
    }
}
