import Foundation
import GRPCCore
import LongrunProto
import SwiftProtobuf
import Synchronization

/// W3: ListOperations pages of 100 with `done = false`, over the socket, on stores of 10k and 1M
/// operations (every other one done), pre-built in-process. Each caller walks the pages in order
/// following `next_page_token` and starts over at the end. The 1M ÷ 10k ratio of the page latency
/// shows whether the filter scans only running operations.
struct W3Result: Codable, Sendable {
    struct Size: Codable, Sendable {
        var operationsStored: Int
        var pages: Int
        var seconds: Double
        var pagesPerSecond: Double
        var latency: LatencySummary
        var daemon: ProcessCost
    }

    var callers: Int
    var pageSize = 100
    var filter = "done = false"
    var sizes: [Size] = []
    /// Largest size's p50 ÷ smallest size's p50, and the same for p99.
    var ratioP50: Double?
    var ratioP99: Double?
}

struct W3List {
    let settings: Settings

    func run() async throws -> W3Result {
        say("W3 ListOperations, page of 100, filter done = false, half the operations done, \(settings.listConcurrency) caller(s), \(settings.seconds) s per size")
        var result = W3Result(callers: settings.listConcurrency)
        let builder = StoreBuilder(cache: settings.storeCache)
        for operations in settings.listSizes {
            let recipe = StoreBuilder.Recipe(name: "w3-\(operations)", operations: operations, progressSteps: 0,
                                             isDone: { $0 % 2 == 0 }, snapshotAtHead: true)
            let data = try await builder.dataDirectory(for: recipe)
            defer { builder.discard(data) }
            let size = try await measure(data: data, operations: operations)
            result.sizes.append(size)
            say("  \(operations) stored: \(Format.rate(size.pagesPerSecond)) pages/s, latency \(size.latency.text); daemon \(size.daemon.text)")
        }
        if let small = result.sizes.first, let large = result.sizes.last, result.sizes.count > 1 {
            result.ratioP50 = Double(large.latency.p50Microseconds) / Double(small.latency.p50Microseconds)
            result.ratioP99 = Double(large.latency.p99Microseconds) / Double(small.latency.p99Microseconds)
            say("  \(large.operationsStored) ÷ \(small.operationsStored): p50 × \(Format.fixed(result.ratioP50!, 2)), p99 × \(Format.fixed(result.ratioP99!, 2))")
        }
        return result
    }

    private func measure(data: String, operations: Int) async throws -> W3Result.Size {
        let daemon = try Daemon.start(binary: settings.longrund, dataDirectory: data)
        defer { daemon.stop() }
        let (callers, seconds) = (settings.listConcurrency, settings.seconds)
        return try await Connection.with(socket: daemon.socket) { connection in
            let tokens = PageTokens(callers: callers)
            let meter = CostMeter(daemon.server)
            let outcome = try await ClosedLoop.run(callers: callers, seconds: seconds) { caller, _ in
                let request = Google_Longrunning_ListOperationsRequest.with {
                    $0.filter = "done = false"
                    $0.pageSize = 100
                    $0.pageToken = tokens.get(caller)
                }
                let page = try await connection.operations.listOperations(request)
                guard page.operations.count == 100 || page.nextPageToken.isEmpty, page.operations.allSatisfy({ !$0.done }) else {
                    throw RPCError(code: .internalError, message: "a page of \(page.operations.count) operations, or a done one, for done = false")
                }
                tokens.set(caller, page.nextPageToken)
            }
            return W3Result.Size(operationsStored: operations, pages: outcome.latencies.count, seconds: outcome.seconds,
                                 pagesPerSecond: outcome.perSecond, latency: LatencySummary(outcome.latencies),
                                 daemon: meter.finish(seconds: outcome.seconds))
        }
    }
}

/// Each caller's next page token ("" = first page).
private final class PageTokens: Sendable {
    private let tokens: Mutex<[String]>

    init(callers: Int) { tokens = Mutex(Array(repeating: "", count: callers)) }

    func get(_ caller: Int) -> String { tokens.withLock { $0[caller] } }
    func set(_ caller: Int, _ token: String) { tokens.withLock { $0[caller] = token } }
}
