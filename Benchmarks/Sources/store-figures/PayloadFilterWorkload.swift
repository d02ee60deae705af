import Logging
import LongrunDomain
import LongrunEngine

/// List pages of 100 with a filter inside the metadata (`metadata.percent_done > 50`, which reads
/// each candidate's payload bytes) beside the same pages with a built-in filter of the same
/// selectivity (`done = true`, which reads only the decoded record): both match about half the
/// operations and scan the same index, so the ratio is the price of looking inside the payload.
struct PayloadFilterWorkload {
    let operations: Int
    let pages: Int
    let builder: StoreBuilder
    let logger: Logger
    let report: Report

    static let pageSize: Int32 = 100
    static let payloadFilter = "metadata.percent_done > 50"
    static let builtInFilter = "done = true"

    /// `figures.Build { int32 percent_done = 1; string stage = 2; }`, as a descriptor set registers it.
    static let schemas = try! PayloadSchemas(registering: [
        MessageSchema(fullName: "figures.Build", fields: [
            FieldSchema(name: "percent_done", number: 1, kind: .int32),
            FieldSchema(name: "stage", number: 2, kind: .string),
        ]),
    ])

    func run() async throws {
        let data = try builder.store(operations: operations, shape: .typedMetadata)
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .relaxed(syncInterval: .seconds(1))
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        configuration.payloadSchemas = Self.schemas
        let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
        defer { engine.close() }

        let builtIn = try await measure(engine, filter: Self.builtInFilter)
        let payload = try await measure(engine, filter: Self.payloadFilter)
        let label = "List page of 100, \(operations) ops stored"
        report.add("Payload filter", "payload.builtin_p50_us.\(operations)", "\(label), \(Self.builtInFilter): p50", builtIn.microseconds(atQuantile: 0.5), "µs")
        report.add("Payload filter", "payload.metadata_p50_us.\(operations)", "\(label), \(Self.payloadFilter): p50", payload.microseconds(atQuantile: 0.5), "µs")
        report.add("Payload filter", "payload.metadata_p99_us.\(operations)", "\(label), \(Self.payloadFilter): p99", payload.microseconds(atQuantile: 0.99), "µs")
        report.add("Payload filter", "payload.p50_ratio.\(operations)", "\(label): p50 with the metadata filter over the built-in one",
                   payload.microseconds(atQuantile: 0.5) / builtIn.microseconds(atQuantile: 0.5), "×")
    }

    /// Pages from random positions: the tokens the engine issued walking the whole listing once,
    /// each of a page that came back full.
    private func measure(_ engine: LongrunEngine, filter: String) async throws -> Latencies {
        var tokens: [String] = []
        var token = ""
        repeat {
            let page = try await engine.list(ListRequest(filter: filter, pageSize: Self.pageSize, pageToken: token))
            if page.operations.count == Int(Self.pageSize) { tokens.append(token) }
            token = page.nextPageToken
        } while !token.isEmpty
        guard !tokens.isEmpty else { throw FiguresError("no full page for \(filter)") }

        var generator = SplitMix64(seed: 14)
        let warmup = min(pages, 1000)
        var latencies = Latencies()
        latencies.reserve(pages)
        for iteration in 0..<(warmup + pages) {
            let request = ListRequest(filter: filter, pageSize: Self.pageSize, pageToken: tokens[Int(generator.next() % UInt64(tokens.count))])
            let started = ContinuousClock.now
            let page = try await engine.list(request)
            let elapsed = ContinuousClock.now - started
            precondition(page.operations.count == Int(Self.pageSize), "a page from a full page's token came back short")
            if iteration >= warmup { latencies.append(elapsed) }
        }
        return latencies
    }
}
