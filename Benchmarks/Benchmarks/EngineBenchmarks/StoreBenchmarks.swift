import Benchmark
import Logging
import LongrunDomain
import LongrunStore

#if canImport(Glibc)
import Glibc
#endif

/// The store's hot paths without the engine around them: appending and folding one batch through
/// the store writer, rebuilding views from a small log, evaluating a parsed filter, and encoding
/// and decoding the log and view records. Each iteration is one operation, so package-benchmark's
/// malloc metric reads as mallocs per operation.
func storeBenchmarks() {
    // One batch as the group-commit writer commits it under load (~60 transitions per commit):
    // 32 creates and the completions of the 32 operations the previous batch created.
    let unsynced = BatchFixture(prefix: "append", syncOnCommit: false)
    Benchmark("Append+fold a batch of 64 events (store writer, no fsync)") { benchmark in
        try unsynced.open()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try unsynced.appendBatch() }
        benchmark.stopMeasurement()
    } teardown: {
        unsynced.remove()
    }

    let synced = BatchFixture(prefix: "append-sync", syncOnCommit: true)
    Benchmark("Append+fold a batch of 64 events (store writer, fsync per commit)") { benchmark in
        try synced.open()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try synced.appendBatch() }
        benchmark.stopMeasurement()
    } teardown: {
        synced.remove()
    }

    // Replay: drop the views and fold the whole log again (what open does when views are behind).
    let replay = BatchFixture(prefix: "replay", syncOnCommit: false)
    Benchmark("Replay: rebuild views from a log of \(ReplaySize.events) events") { benchmark in
        let store = try replay.open()
        if try store.read({ try $0.logHead() }) == 0 {
            for _ in 0..<ReplaySize.batches { try replay.appendBatch() }
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try store.rebuildViews() }
        benchmark.stopMeasurement()
    } teardown: {
        replay.remove()
    }

    // Filter: parsed once, evaluated against the record of a done operation (every clause is
    // evaluated: the last one decides).
    let filter = try! Filter(parsing: #"metadata.type = "bench.M" AND create_time > "2020-01-01T00:00:00Z" AND NOT error.code:* AND done = true"#)
    let state = Samples.doneState
    Benchmark("Filter: evaluate a parsed filter against an OperationState") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(filter.matches(state.filterRecord)) }
    }
    Benchmark("Filter: parse `done = false`") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Filter(parsing: "done = false")) }
    }

    // Records: what every append encodes and every replay and read decodes.
    let event = Samples.progressedEvent
    let record = RecordCodec.encode(event)
    let stateRecord = RecordCodec.encode(state)
    let previous = ChainHash.genesis
    Benchmark("Codec: encode an event (LogRecord)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(RecordCodec.encode(event)) }
    }
    Benchmark("Codec: encode an event and chain it (log entry)") { benchmark in
        for _ in benchmark.scaledIterations {
            let record = RecordCodec.encode(event)
            let hash = record.withUnsafeBytes { previous.next(record: $0) }
            blackHole(hash.bytes + record)
        }
    }
    Benchmark("Codec: decode an event (LogRecord)") { benchmark in
        try record.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(try RecordCodec.decodeEvent(bytes)) }
        }
    }
    Benchmark("Codec: encode an OperationState (OperationRecord)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(RecordCodec.encode(state)) }
    }
    Benchmark("Codec: decode an OperationState (OperationRecord)") { benchmark in
        try stateRecord.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(try RecordCodec.decodeState(bytes)) }
        }
    }
}

enum ReplaySize {
    /// Batches in the replay benchmark's log: the first holds 32 creates, every other one 64 events.
    static let batches = 157
    static var events: Int { 64 * batches - 32 }
}

/// Representative records, shaped like what `store-figures` writes.
enum Samples {
    static let actor = Actor(uid: 1000, pid: 4242, label: "bench")
    static let name = try! OperationName(parsing: "operations/op-123456")
    static let time = Timestamp(nanosecondsSinceEpoch: 1_795_000_000_000_000_000)

    static var progressedEvent: Event {
        Event(sequence: 123_457, time: time, name: name, actor: actor,
              kind: .progressed(metadata: Payload(typeURL: "type.googleapis.com/bench.M", value: Array("step 1".utf8))))
    }

    static var doneState: OperationState {
        OperationState(
            name: name, metadata: Payload(typeURL: "type.googleapis.com/bench.M", value: Array("step 1".utf8)),
            outcome: .response(Payload(typeURL: "type.googleapis.com/bench.R", value: Array("done".utf8))),
            createTime: time, updateTime: time + .seconds(3), endTime: time + .seconds(3), creator: actor,
            requestID: nil, cancellation: .default, cancelRequest: nil, deletion: nil,
            version: 4, createSequence: 123_450, lastSequence: 123_460
        )
    }
}

/// A store in a temporary directory, written through the store writer in batches of 64 events.
/// Built on first use by a benchmark and removed by its teardown.
final class BatchFixture: @unchecked Sendable {
    private let prefix: String
    private let syncOnCommit: Bool
    private var directory: String?
    private var store: Store?
    private var batches = 0
    private let actor = Actor(label: "bench")
    private let metadata = Payload(typeURL: "type.googleapis.com/bench.M", value: Array("queued".utf8))
    private let response = Payload(typeURL: "type.googleapis.com/bench.R", value: Array("done".utf8))

    init(prefix: String, syncOnCommit: Bool) {
        self.prefix = prefix
        self.syncOnCommit = syncOnCommit
    }

    @discardableResult
    func open() throws -> Store {
        if let store { return store }
        var template = Array("/tmp/longrun-bench-\(prefix)-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        var configuration = Store.Configuration()
        configuration.syncOnCommit = syncOnCommit
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let store = try Store(directory: directory + "/data", configuration: configuration, logger: logger)
        self.directory = directory
        self.store = store
        return store
    }

    /// Creates 32 operations and completes the 32 the previous batch created, in one transaction.
    func appendBatch() throws {
        guard let store else { preconditionFailure("open() first") }
        let batch = batches
        let created = try (0..<32).map { try OperationName(parsing: "operations/b\(batch)-\($0)") }
        let completed = batch == 0 ? [] : try (0..<32).map { try OperationName(parsing: "operations/b\(batch - 1)-\($0)") }
        let time = Samples.time + .milliseconds(batch)
        try store.write { writer in
            for name in created {
                try writer.append([Event.Draft(actor: actor, kind: .created(Event.Created(metadata: metadata)))], name: name, time: time)
            }
            for name in completed {
                try writer.append([Event.Draft(actor: actor, kind: .completed(.response(response)))], name: name, time: time)
            }
        }
        batches += 1
    }

    func remove() {
        store = nil
        if let directory { _ = system("rm -rf '\(directory)'") }
        directory = nil
    }
}
