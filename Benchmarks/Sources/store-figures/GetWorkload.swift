import Logging
import LongrunDomain
import LongrunEngine

/// GetOperation in-process: the engine's Get of random names on a half-done store, one caller.
/// Also the workload to profile Get with (`valgrind --tool=callgrind --toggle-collect='*measureGets*'`).
struct GetWorkload {
    let operations: Int
    let gets: Int
    let builder: StoreBuilder
    let logger: Logger
    let report: Report

    func run() async throws {
        let data = try builder.store(operations: operations, shape: .halfDone)
        var configuration = LongrunEngine.Configuration()
        configuration.durability = .relaxed(syncInterval: .seconds(1))
        configuration.snapshotEveryEvents = nil
        configuration.snapshotInterval = nil
        let engine = try LongrunEngine(directory: data, configuration: configuration, logger: logger)
        defer { engine.close() }
        var generator = SplitMix64(seed: 2)
        let names = try (0..<4096).map { _ in try OperationName(parsing: "operations/op-\(generator.next() % UInt64(operations))") }
        _ = try await measureGets(engine, names: names, count: min(gets, 10_000))
        let latencies = try await measureGets(engine, names: names, count: gets)
        report.add("Get", "get.p50_us.\(operations)", "Get by random name, \(operations) ops stored: p50", latencies.microseconds(atQuantile: 0.5), "µs")
        report.add("Get", "get.p99_us.\(operations)", "Get by random name, \(operations) ops stored: p99", latencies.microseconds(atQuantile: 0.99), "µs")
    }

    @inline(never)
    func measureGets(_ engine: LongrunEngine, names: [OperationName], count: Int) async throws -> Latencies {
        var latencies = Latencies()
        latencies.reserve(count)
        for index in 0..<count {
            let started = ContinuousClock.now
            let state = try await engine.get(names[index & 4095])
            latencies.append(ContinuousClock.now - started)
            precondition(state.createSequence > 0)
        }
        return latencies
    }
}
