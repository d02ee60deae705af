import BenchmarkSupport
import Foundation
import Logging
import LongrunDomain
import LongrunStore

/// Builds the stores the workloads read, straight through the store writer (the engine's fold and
/// encoding, without its decide step and fsyncs), and keeps them in a cache directory when asked
/// so that reruns skip the build.
struct StoreBuilder {
    enum Shape: String {
        /// Every operation created; every other one (the even ones) completed: half done.
        case halfDone = "half-done"
        /// As `halfDone`, the older half done and the newer half running, as operations that
        /// complete about in the order they were created leave them: the running ones' records
        /// follow each other, where `halfDone` puts a done one between every two.
        case halfDoneOldestFirst = "half-done-oldest-first"
        /// As `halfDone`, named `operations/r` and 16 hex digits of a hash of the operation's index,
        /// so that names follow no order (creation order and name order part).
        case halfDoneRandomNames = "half-done-random-names"
        /// As `halfDone`, in 8 collections taken in turn by pairs (`tenants/tK/operations/op-N`, K
        /// = N / 2 modulo 8, so that each holds done and running ones): a collection's records
        /// are one in 8 of the store's, in creation order.
        case halfDoneInterleaved = "half-done-interleaved"
        /// As `halfDoneInterleaved`, over 1,000 collections (`tenants/t0` to `tenants/t999`).
        case halfDoneThousandCollections = "half-done-1000-collections"
        /// As `halfDoneInterleaved`, over 9,525 collections of two kinds: one pair in 20 in
        /// `tenants/t0` to `tenants/t499` (5% of the records, in 500 collections), the others in
        /// `projects/p0` to `projects/p9499` (95%, in 9,025).
        case halfDoneMixedCollections = "half-done-mixed-collections"
        /// Every operation created, progressed twice and completed: four events each, as a daemon
        /// serving producers writes them.
        case fourEvents = "four-events"
        /// Half done, as `halfDone`, with `figures.Build` metadata whose `percent_done` is the
        /// operation's index modulo 101 (the payload filter workload).
        case typedMetadata = "typed-metadata"

        var eventsPerOperation: Double { self == .fourEvents ? 4 : 1.5 }
    }

    /// Where stores live: the cache directory, or the run's scratch directory.
    let root: String
    let logger: Logger
    let report: Report

    /// The data directory of a store of `operations` operations of `shape`, built unless the cache
    /// already holds a complete one.
    func store(operations: Int, shape: Shape) throws -> String {
        let directory = root + "/\(shape.rawValue)-\(operations)"
        let cached = CachedStore(directory: directory)
        if cached.isComplete { return cached.data }
        try cached.prepare()
        let started = ContinuousClock.now
        let events = try build(into: cached.data, operations: operations, shape: shape)
        let elapsed = ContinuousClock.now - started
        report.note("built \(directory): \(operations) operations, \(events) events in \(String(format: "%.1f", elapsed.seconds)) s (\(Int(Double(events) / elapsed.seconds)) events/s, store writer, no fsync)")
        try cached.markComplete("\(operations) operations, \(shape.rawValue), \(events) events\n")
        return cached.data
    }

    /// Operations go in groups of 64 (as 64 producers interleave them): each step of the shape for
    /// the whole group, then the next step. One transaction per 16 groups; one sync at the end.
    private func build(into data: String, operations: Int, shape: Shape) throws -> Int {
        var configuration = Store.Configuration()
        configuration.syncOnCommit = false
        let store = try Store(directory: data, configuration: configuration, logger: logger)
        let actor = Actor(label: "figures")
        let queued = Payload(typeURL: "type.googleapis.com/figures.M", value: Array("queued".utf8))
        let steps = (0..<2).map { Payload(typeURL: "type.googleapis.com/figures.M", value: Array("step \($0)".utf8)) }
        let done = Payload(typeURL: "type.googleapis.com/figures.R", value: Array("done".utf8))
        let groupSize = 64, groupsPerTransaction = 16
        var clock = Timestamp(nanosecondsSinceEpoch: 1_795_000_000_000_000_000)
        var events = 0
        var first = 0
        while first < operations {
            let last = min(operations, first + groupSize * groupsPerTransaction)
            let written: Int = try store.write { writer in
                var written = 0
                for group in stride(from: first, to: last, by: groupSize) {
                    let names = try (group..<min(last, group + groupSize)).map { try OperationName(parsing: Self.name(of: $0, shape: shape)) }
                    let kinds: [(Int) -> Event.Kind?] = switch shape {
                    case .typedMetadata: [
                        { .created(Event.Created(metadata: Self.build(percentDone: $0 % 101))) },
                        { $0 % 2 == 0 ? .completed(.response(done)) : nil },
                    ]
                    case .halfDone, .halfDoneRandomNames, .halfDoneInterleaved, .halfDoneThousandCollections, .halfDoneMixedCollections: [
                        { _ in .created(Event.Created(metadata: queued)) },
                        { $0 % 2 == 0 ? .completed(.response(done)) : nil },
                    ]
                    case .halfDoneOldestFirst: [
                        { _ in .created(Event.Created(metadata: queued)) },
                        { $0 < operations / 2 ? .completed(.response(done)) : nil },
                    ]
                    case .fourEvents: [
                        { _ in .created(Event.Created(metadata: queued)) },
                        { _ in .progressed(metadata: steps[0]) },
                        { _ in .progressed(metadata: steps[1]) },
                        { _ in .completed(.response(done)) },
                    ]
                    }
                    for kind in kinds {
                        for (offset, name) in names.enumerated() {
                            guard let kind = kind(group + offset) else { continue }
                            try writer.append([Event.Draft(actor: actor, kind: kind)], name: name, time: clock)
                            written += 1
                        }
                        clock = clock + .milliseconds(1)
                    }
                }
                return written
            }
            events += written
            first = last
            if events % 1_000_000 < written { print("  … \(events) events") }
        }
        try store.sync()
        return events
    }

    /// How many collections `halfDoneInterleaved` spreads its operations over.
    static let interleavedCollections = 8

    /// The name of the `index`th operation of a store of `shape`.
    static func name(of index: Int, shape: Shape) -> String {
        if shape == .halfDoneInterleaved { return "tenants/t\(index / 2 % interleavedCollections)/operations/op-\(index)" }
        if shape == .halfDoneThousandCollections { return "tenants/t\(index / 2 % 1000)/operations/op-\(index)" }
        if shape == .halfDoneMixedCollections {
            let pair = index / 2
            let parent = pair % 20 == 0 ? "tenants/t\(pair / 20 % 500)" : "projects/p\(pair % 9500)"
            return "\(parent)/operations/op-\(index)"
        }
        guard shape == .halfDoneRandomNames else { return "operations/op-\(index)" }
        // SplitMix64's finalizer: a bijection, so no two operations share a name.
        var z = UInt64(index) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let hex = String(z, radix: 16)
        return "operations/r" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `figures.Build { int32 percent_done = 1; string stage = 2; }`.
    static func build(percentDone: Int) -> Payload {
        var bytes: [UInt8] = percentDone == 0 ? [] : [0x08, UInt8(percentDone)]
        let stage = Array((percentDone < 50 ? "COMPILING" : "LINKING").utf8)
        bytes += [0x12, UInt8(stage.count)] + stage
        return Payload(typeURL: "type.googleapis.com/figures.Build", value: bytes)
    }
}
