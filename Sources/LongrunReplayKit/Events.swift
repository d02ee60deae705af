import LongrunCLIKit
public import LongrunDomain
public import LongrunProto
public import LongrunStore
import LongrunWire

/// Which events `dump` prints: the intersection of a sequence range, a time range and a name.
public struct DumpQuery: Sendable {
    public var fromSequence: UInt64?
    public var toSequence: UInt64?
    /// Events at or after this time.
    public var since: Timestamp?
    /// Events at or before this time.
    public var until: Timestamp?
    public var name: OperationName?

    public init(fromSequence: UInt64? = nil, toSequence: UInt64? = nil, since: Timestamp? = nil, until: Timestamp? = nil, name: OperationName? = nil) {
        self.fromSequence = fromSequence
        self.toSequence = toSequence
        self.since = since
        self.until = until
        self.name = name
    }
}

/// What a dump did.
public struct DumpSummary: Sendable, Equatable {
    /// The sequences the query selected (nil: none), and how many events were printed.
    public var range: ClosedRange<UInt64>?
    public var events: UInt64
    /// Remarks for stderr, e.g. that the start of the range was compacted away.
    public var notes: [String]
}

/// `dump` and `history`: events as the daemon's History service shows them, read through the
/// storage seam, so that both read an LMDB data directory and a PostgreSQL store directly (only the
/// events asked for are read: a history is one index lookup on either backend).
public enum EventDump {
    /// Events read per call: a long dump never holds one read transaction open for long, and
    /// never holds more than one batch in memory.
    public static let batchSize = 1000

    /// The sequences `query` selects in the log as it is now; nil when none.
    public static func range(of query: DumpQuery, in store: any OperationStore) async throws -> (range: ClosedRange<UInt64>?, notes: [String]) {
        let head = try await store.appliedSequence()
        guard head > 0 else { return (nil, []) }
        let tail = try await store.logTail() ?? 1
        var notes: [String] = []
        var low = max(query.fromSequence ?? tail, tail)
        var high = min(query.toSequence ?? head, head)
        if let from = query.fromSequence, from < tail, tail > 1 {
            notes.append("events before \(tail) were compacted out of the log; starting at \(tail)")
        }
        if let since = query.since {
            let before = try await store.lastSequence(atOrBefore: since - .nanoseconds(1))
            low = max(low, (before ?? tail - 1) + 1)
        }
        if let until = query.until {
            guard let last = try await store.lastSequence(atOrBefore: until) else { return (nil, notes) }
            high = min(high, last)
        }
        return (low <= high ? low...high : nil, notes)
    }

    /// Streams the events `query` selects as JSON lines to `emit`, one batch per read.
    @discardableResult
    public static func run(store: any OperationStore, query: DumpQuery, batchSize: Int = EventDump.batchSize,
                           emit: (String) throws -> Void) async throws -> DumpSummary {
        let (range, notes) = try await self.range(of: query, in: store)
        guard let range else { return DumpSummary(range: nil, events: 0, notes: notes) }
        var versions = VersionTracker()
        var after = range.lowerBound - 1
        var count: UInt64 = 0
        while after < range.upperBound {
            let events = if let name = query.name {
                try await store.events(of: name, after: after, limit: batchSize)
            } else {
                try await store.events(after: after, limit: batchSize)
            }
            for event in events {
                after = event.sequence
                guard event.sequence <= range.upperBound else { after = range.upperBound; break }
                try emit(JSONOutput.line(try await versions.proto(event, store: store)))
                count += 1
            }
            if events.count < batchSize { after = range.upperBound }
        }
        return DumpSummary(range: range, events: count, notes: notes)
    }

    /// The history of `name`, deleted operations included, in batches of protos (each with the
    /// operation's version on `progressed` events, as the History service sends them).
    public static func history(store: any OperationStore, name: OperationName, batchSize: Int = EventDump.batchSize,
                               body: ([Longrun_V1_OperationEvent]) throws -> Void) async throws {
        guard try await store.operation(name) != nil else {
            throw ReplayError("operation \(name) has no history in \(store.location): it never existed there (names are exact, e.g. tenants/acme/operations/build-7)")
        }
        var versions = VersionTracker()
        var after: UInt64 = 0
        while true {
            let events = try await store.events(of: name, after: after, limit: batchSize)
            after = events.last?.sequence ?? after
            var protos: [Longrun_V1_OperationEvent] = []
            protos.reserveCapacity(events.count)
            for event in events { protos.append(try await versions.proto(event, store: store)) }
            if !protos.isEmpty { try body(protos) }
            if events.count < batchSize { return }
        }
    }

    /// The history of `name` as JSON lines, streamed to `emit`.
    public static func historyJSON(store: any OperationStore, name: OperationName, emit: (String) throws -> Void) async throws {
        try await history(store: store, name: name) { batch in
            for event in batch { try emit(JSONOutput.line(event)) }
        }
    }

    /// The history of `name` as JSON lines.
    public static func historyLines(store: any OperationStore, name: OperationName) async throws -> [String] {
        var lines: [String] = []
        try await historyJSON(store: store, name: name) { lines.append($0) }
        return lines
    }

    /// The history of `name` as the table `SEQ TIME KIND ACTOR DETAIL`.
    public static func historyTable(store: any OperationStore, name: OperationName) async throws -> String {
        var events: [Longrun_V1_OperationEvent] = []
        try await history(store: store, name: name) { events += $0 }
        return HumanOutput.eventsTable(events)
    }
}

/// Each operation's version after each event (the number of its transitions so far, as
/// ``Event/Kind/isTransition`` counts them), for
/// `progressed` events: counted along a stream, looked up in the history index when an
/// operation first appears after its creation.
struct VersionTracker {
    private var versions: [OperationName: UInt64] = [:]
    /// Bound on the names remembered; beyond it the memory is dropped and versions looked up again.
    private let capacity = 100_000

    mutating func proto(_ event: Event, store: any OperationStore) async throws -> Longrun_V1_OperationEvent {
        var proto = event.proto(state: nil)
        let version: UInt64?
        if let known = versions[event.name] {
            version = known + (event.kind.isTransition ? 1 : 0)
        } else if case .created = event.kind {
            version = 1
        } else if case .progressed = event.kind {
            version = try await Self.countTransitions(of: event.name, through: event.sequence, store: store)
        } else {
            version = nil
        }
        if versions.count >= capacity { versions.removeAll(keepingCapacity: true) }
        versions[event.name] = version
        if case .progressed = event.kind, let version { proto.progressed.version = version }
        return proto
    }

    /// How many transitions of `name` have a sequence up to and including `sequence`.
    static func countTransitions(of name: OperationName, through sequence: UInt64, store: any OperationStore) async throws -> UInt64 {
        var count: UInt64 = 0
        var after: UInt64 = 0
        while true {
            let events = try await store.events(of: name, after: after, limit: 256)
            for event in events {
                guard event.sequence <= sequence else { return count }
                if event.kind.isTransition { count += 1 }
            }
            guard events.count == 256, let last = events.last else { return count }
            after = last.sequence
        }
    }
}
