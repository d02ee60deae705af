import BenchmarkSupport
import Foundation
import Logging
import LongrunDomain
import LongrunEngine

/// Builds data directories in-process with the engine (64 producers, `relaxed` durability, no
/// scheduled snapshots) for the workloads that need more operations than are quick to create over
/// the socket. With a cache directory, a store is built once and reused by later runs.
struct StoreBuilder {
    /// What to build: `operations` operations `op-0`…, each created with metadata, then
    /// `progressSteps` progress events, then completed if `isDone(index)`.
    struct Recipe: Sendable {
        var name: String
        var operations: Int
        var progressSteps: Int
        var isDone: @Sendable (Int) -> Bool
        /// Take a snapshot at the head before closing, as a long-running daemon would have.
        var snapshotAtHead: Bool

        var events: Int { (0..<operations).reduce(0) { $0 + 1 + progressSteps + (isDone($1) ? 1 : 0) } }
    }

    /// Where stores are kept between runs; nil: a temporary directory, removed by ``discard(_:)``.
    let cache: String?

    /// The data directory for `recipe`, built now unless the cache has it complete.
    func dataDirectory(for recipe: Recipe) async throws -> String {
        let base = try cache.map { cache in
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            return cache + "/" + recipe.name
        } ?? Scratch.make(recipe.name)
        let store = CachedStore(directory: base), data = store.data
        if store.isComplete {
            say("  using the cached store \(data)")
            return data
        }
        try store.prepare()
        say("  building \(recipe.name): \(recipe.operations) operations in-process\(cache == nil ? " (pass --store-cache DIR to keep it for later runs)" : " into \(base)")")
        let started = ContinuousClock.now
        try await Self.build(recipe, into: data)
        let took = ContinuousClock.now - started
        say("  built \(recipe.name) in \(Format.fixed(took.seconds, 1)) s (\(Format.rate(Double(recipe.events) / took.seconds)) events/s)")
        try store.markComplete()
        return data
    }

    /// Removes a store built outside the cache.
    func discard(_ dataDirectory: String) {
        guard cache == nil else { return }
        try? FileManager.default.removeItem(atPath: (dataDirectory as NSString).deletingLastPathComponent)
    }

    private static func build(_ recipe: Recipe, into data: String, producers: Int = 64) async throws {
        var logger = Logger(label: "longrun-load")
        logger.logLevel = .warning
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .relaxed(syncInterval: .seconds(1))
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
        defer { engine.close() }
        let actor = Actor(label: "longrun-load")
        let metadata = Payload(typeURL: "type.googleapis.com/load.v1.Progress", value: Array(repeating: 0x2A, count: 24))
        let response = Payload(typeURL: "type.googleapis.com/load.v1.Result", value: Array(repeating: 0x2B, count: 24))
        let progress = BuildProgress(total: recipe.operations)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for index in stride(from: producer, to: recipe.operations, by: producers) {
                        let operation = try await engine.create(CreateRequest(id: "op-\(index)", metadata: metadata), actor: actor)
                        for _ in 0..<recipe.progressSteps {
                            _ = try await engine.progress(operation.name, metadata: metadata, actor: actor)
                        }
                        if recipe.isDone(index) {
                            _ = try await engine.complete(operation.name, outcome: .response(response), actor: actor)
                        }
                        progress.advance()
                    }
                }
            }
            try await group.waitForAll()
        }
        if recipe.snapshotAtHead { _ = try await engine.takeSnapshot() }
    }
}

/// Prints a line every 10% of a long build.
private final class BuildProgress: Sendable {
    private let total: Int
    private let done = Counter()

    init(total: Int) { self.total = total }

    func advance() {
        let count = done.next()
        guard total >= 1_000_000, count % (total / 10) == 0 else { return }
        say("    \(count * 100 / total)%")
    }
}
