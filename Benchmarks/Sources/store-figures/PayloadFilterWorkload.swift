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

        // Interleaved, page for page, so that load changing during the run weighs on both alike.
        let builtInTokens = try await fullPageTokens(engine, filter: Self.builtInFilter)
        let payloadTokens = try await fullPageTokens(engine, filter: Self.payloadFilter)
        var generator = SplitMix64(seed: 14)
        let warmup = min(pages, 1000)
        var builtIn = Latencies(), payload = Latencies()
        builtIn.reserve(pages)
        payload.reserve(pages)
        for iteration in 0..<(warmup + pages) {
            let first = try await page(engine, Self.builtInFilter, builtInTokens[Int(generator.next() % UInt64(builtInTokens.count))])
            let second = try await page(engine, Self.payloadFilter, payloadTokens[Int(generator.next() % UInt64(payloadTokens.count))])
            if iteration >= warmup {
                builtIn.append(first)
                payload.append(second)
            }
        }
        let label = "List page of 100, \(operations) ops stored"
        report.add("Payload filter", "payload.builtin_p50_us.\(operations)", "\(label), \(Self.builtInFilter): p50", builtIn.microseconds(atQuantile: 0.5), "µs")
        report.add("Payload filter", "payload.metadata_p50_us.\(operations)", "\(label), \(Self.payloadFilter): p50", payload.microseconds(atQuantile: 0.5), "µs")
        report.add("Payload filter", "payload.metadata_p99_us.\(operations)", "\(label), \(Self.payloadFilter): p99", payload.microseconds(atQuantile: 0.99), "µs")
        report.add("Payload filter", "payload.p50_ratio.\(operations)", "\(label): p50 with the metadata filter over the built-in one",
                   payload.microseconds(atQuantile: 0.5) / builtIn.microseconds(atQuantile: 0.5), "×")
    }

    /// The tokens the engine issued walking the whole listing once, each of a page that came back full.
    private func fullPageTokens(_ engine: LongrunEngine, filter: String) async throws -> [String] {
        var tokens: [String] = []
        var token = ""
        repeat {
            let page = try await engine.list(ListRequest(filter: filter, pageSize: Self.pageSize, pageToken: token))
            if page.operations.count == Int(Self.pageSize) { tokens.append(token) }
            token = page.nextPageToken
        } while !token.isEmpty
        guard !tokens.isEmpty else { throw FiguresError("no full page for \(filter)") }
        return tokens
    }

    /// One page from `token`, timed.
    private func page(_ engine: LongrunEngine, _ filter: String, _ token: String) async throws -> Duration {
        let started = ContinuousClock.now
        let page = try await engine.list(ListRequest(filter: filter, pageSize: Self.pageSize, pageToken: token))
        let elapsed = ContinuousClock.now - started
        precondition(page.operations.count == Int(Self.pageSize), "a page from a full page's token came back short")
        return elapsed
    }
}
