import ArgumentParser
import Logging
import LongrunDomain
import LongrunEngine

/// W3: ListOperations pages of 100 with `done = false` through the engine's list API, on stores of
/// different sizes (half of the operations done). Pages start at random positions: the tokens are
/// the ones the engine issued while walking the whole listing once, so every page measured is full.
struct ListWorkload {
    /// How the stored operations are named. Records are kept in creation order, as pages read
    /// them, so names in no order cost a page little more (longer ids to check, BENCHMARKS.md);
    /// a collection among others has its records spread among theirs.
    enum Names: String, ExpressibleByArgument {
        /// `interleaved`: in 8 collections taken in turn, of which the pages list one (its records
        /// one in 8 of the store's); `merged`: the same store, the pages listing all 8 at once
        /// (`tenants/-`, a wildcard: the collections merged in creation order).
        case sequential, random, interleaved, merged
        /// `merged1000`: 1,000 collections taken in turn, the pages listing all (`tenants/-`).
        case merged1000
        /// `merged9000`: 9,025 collections holding 95% of the records among 9,525, the pages
        /// listing them (`projects/-`); `sparse500`: the other 500 collections, 5% of the records
        /// (`tenants/-`).
        case merged9000, sparse500
        /// `oldest-done`: names as `sequential`, the older half done and the newer half running
        /// (operations completed about in creation order), where the others have every other one
        /// done.
        case oldestDone = "oldest-done"

        var shape: StoreBuilder.Shape {
            switch self {
            case .sequential: .halfDone
            case .oldestDone: .halfDoneOldestFirst
            case .random: .halfDoneRandomNames
            case .interleaved, .merged: .halfDoneInterleaved
            case .merged1000: .halfDoneThousandCollections
            case .merged9000, .sparse500: .halfDoneMixedCollections
            }
        }
        /// What the report's labels add.
        var label: String {
            switch self {
            case .sequential: ""
            case .oldestDone: ", the older half done"
            case .random: ", random names"
            case .interleaved: ", one of 8 interleaved collections"
            case .merged: ", 8 collections merged (tenants/-)"
            case .merged1000: ", 1000 collections merged (tenants/-)"
            case .merged9000: ", 9025 of 9525 collections merged (projects/-)"
            case .sparse500: ", 500 of 9525 collections merged (tenants/-, 5% of the records)"
            }
        }
        var key: String { self == .sequential ? "" : "." + rawValue + (self == .random ? "_names" : "") }
        /// The collection the pages list.
        var collection: String {
            switch self {
            case .sequential, .random, .oldestDone: ""
            case .interleaved: "tenants/t0"
            case .merged, .merged1000, .sparse500: "tenants/-"
            case .merged9000: "projects/-"
            }
        }
    }

    let sizes: [Int]
    let pages: Int
    let names: Names
    let builder: StoreBuilder
    let logger: Logger
    let report: Report

    static let pageSize: Int32 = 100
    static let filter = "done = false"

    func run() async throws {
        var p50s: [Int: Double] = [:]
        for size in sizes {
            let data = try builder.store(operations: size, shape: names.shape)
            let latencies = try await measure(data)
            let p50 = latencies.microseconds(atQuantile: 0.5)
            p50s[size] = p50
            let stored = "\(size) ops stored\(names.label)"
            report.add("W3", "w3\(names.key).page_p50_us.\(size)", "List page of 100, done = false, \(stored): p50", p50, "µs", target: .atMost(50))
            report.add("W3", "w3\(names.key).page_p99_us.\(size)", "List page of 100, done = false, \(stored): p99", latencies.microseconds(atQuantile: 0.99), "µs")
            report.add("W3", "w3\(names.key).page_mean_us.\(size)", "List page of 100, done = false, \(stored): mean", latencies.meanMicroseconds, "µs")
        }
        if let smallest = sizes.min(), let largest = sizes.max(), smallest != largest, let small = p50s[smallest], let large = p50s[largest] {
            report.add("W3", "w3\(names.key).page_p50_ratio.\(largest)_over_\(smallest)", "List page p50, \(largest) ops over \(smallest) ops\(names.label)", large / small, "×", target: .atMost(1.3))
        }
    }

    private func measure(_ data: String) async throws -> Latencies {
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .relaxed(syncInterval: .seconds(1))
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
        defer { engine.close() }

        // Walk the listing once, keeping the token of every page that came back full.
        var tokens: [String] = []
        var token = ""
        repeat {
            let page = try await engine.list(ListRequest(name: names.collection, filter: Self.filter, pageSize: Self.pageSize, pageToken: token))
            if page.operations.count == Int(Self.pageSize) { tokens.append(token) }
            token = page.nextPageToken
        } while !token.isEmpty
        guard !tokens.isEmpty else { throw FiguresError("no full page of running operations in \(data)") }

        var generator = SplitMix64(seed: 5)
        let warmup = min(pages, 1000)
        var latencies = Latencies()
        latencies.reserve(pages)
        for iteration in 0..<(warmup + pages) {
            let request = ListRequest(name: names.collection, filter: Self.filter, pageSize: Self.pageSize, pageToken: tokens[Int(generator.next() % UInt64(tokens.count))])
            let started = ContinuousClock.now
            let page = try await engine.list(request)
            let elapsed = ContinuousClock.now - started
            precondition(page.operations.count == Int(Self.pageSize), "a page from a full page's token came back short")
            if iteration >= warmup { latencies.append(elapsed) }
        }
        return latencies
    }
}

/// A small deterministic generator, so runs pick the same pages.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct FiguresError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
