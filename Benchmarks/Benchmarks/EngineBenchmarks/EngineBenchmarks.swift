import Benchmark
import Logging
import LongrunDomain
import LongrunEngine
import LongrunStore

#if canImport(Glibc)
import Glibc
#endif

/// In-process figures of the engine: durable transitions through the group-commit writer with 1
/// and 64 concurrent callers, and Get / List on a store of 100k operations; then the store's own
/// hot paths (`storeBenchmarks()`). package-benchmark runs each benchmark in a process of its
/// own, so every fixture is built by the benchmark that uses it and removed by its teardown.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .microseconds,
        maxDuration: .seconds(5),
        maxIterations: 1_000_000
    )

    // Each benchmark iteration is one durable transition (create or complete, fsync per commit).
    Benchmark("Transition (full durability), 1 caller") { benchmark in
        let fixture = try EngineFixture(prefix: "t1")
        defer { fixture.close() }
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let op = try await fixture.engine.create(CreateRequest(id: "op-\(index)"), actor: fixture.actor)
            blackHole(op)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Transition (full durability), 64 callers", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let fixture = try EngineFixture(prefix: "t64")
        defer { fixture.close() }
        let total = benchmark.scaledIterations.count
        let engine = fixture.engine
        let actor = fixture.actor
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<64 {
                group.addTask {
                    var index = caller
                    while index < total {
                        _ = try await engine.create(CreateRequest(id: "c\(caller)-\(index)"), actor: actor)
                        index += 64
                    }
                }
            }
            try await group.waitForAll()
        }
        benchmark.stopMeasurement()
        let stats = engine.writerStatistics
        print("64 callers: \(stats.transitions) transitions in \(stats.commits) commits (\(Double(stats.transitions) / Double(max(stats.commits, 1))) per commit)")
    }

    let loaded = LoadedStore()
    // The read benchmarks are async (the store is built on first use), so they stop the clock
    // themselves: an implicit stop would also count the hop back to the runner's executor.
    Benchmark("Get by name, 100k operations stored") { benchmark in
        let engine = try await loaded.engine()
        let name = loaded.nextName()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await engine.get(name))
        }
        benchmark.stopMeasurement()
    } teardown: {
        loaded.remove()
    }

    Benchmark("List page of 100 (done = false), 100k operations stored") { benchmark in
        let engine = try await loaded.engine()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await engine.list(ListRequest(filter: "done = false", pageSize: 100)))
        }
        benchmark.stopMeasurement()
    } teardown: {
        loaded.remove()
    }

    Benchmark("List page of 100 (no filter), 100k operations stored") { benchmark in
        let engine = try await loaded.engine()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await engine.list(ListRequest(pageSize: 100)))
        }
        benchmark.stopMeasurement()
    } teardown: {
        loaded.remove()
    }

    storeBenchmarks()
}

struct EngineFixture {
    let directory: String
    let engine: LongrunEngine
    let actor = Actor(label: "bench")

    init(prefix: String, durability: Durability = .full) throws {
        var template = Array("/tmp/longrun-bench-\(prefix)-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        var configuration = LongrunEngine.Configuration()
        configuration.durability = durability
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        engine = try LongrunEngine(directory: directory + "/data", configuration: configuration, logger: logger)
    }

    func close() {
        engine.close()
        _ = system("rm -rf '\(directory)'")
    }
}

/// A store of 100k operations (half of them done), built once and shared by the read benchmarks.
final class LoadedStore: @unchecked Sendable {
    static let count = 100_000
    private var fixture: EngineFixture?
    private var names: [OperationName] = []
    private var nameIndex = 0

    /// A random stored name, cycling through 1024 drawn once.
    func nextName() -> OperationName {
        if names.isEmpty {
            var generator = SystemRandomNumberGenerator()
            names = (0..<1024).map { _ in try! OperationName(parsing: "operations/op-\(Int.random(in: 0..<Self.count, using: &generator))") }
        }
        nameIndex = (nameIndex + 1) & 1023
        return names[nameIndex]
    }

    func engine() async throws -> LongrunEngine {
        if let fixture { return fixture.engine }
        let fixture = try EngineFixture(prefix: "read", durability: .relaxed(syncInterval: .seconds(1)))
        let engine = fixture.engine
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<64 {
                group.addTask {
                    var index = caller
                    while index < Self.count {
                        let op = try await engine.create(CreateRequest(id: "op-\(index)"), actor: fixture.actor)
                        if index % 2 == 0 {
                            _ = try await engine.complete(op.name, outcome: .response(Payload(typeURL: "type.googleapis.com/bench.R", value: [1])), actor: fixture.actor)
                        }
                        index += 64
                    }
                }
            }
            try await group.waitForAll()
        }
        self.fixture = fixture
        return engine
    }

    func remove() {
        fixture?.close()
        fixture = nil
    }
}
