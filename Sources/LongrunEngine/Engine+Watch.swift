public import LongrunDomain

/// Where a watch begins: at the newest event, or after a sequence the client saw last.
public enum WatchStart: Hashable, Sendable {
    case head
    case after(UInt64)
}

/// One event of a watched collection, with the operation as it was right after it.
public struct WatchedEvent: Sendable {
    public var event: Event
    /// The operation right after ``event``; nil when its early history was compacted and the event
    /// is not its latest, so its state then cannot be known (docs/API.md).
    public var state: OperationState?

    /// The operation's version right after ``event``; 0 when ``state`` is unknown.
    public var version: UInt64 { state?.version ?? 0 }
}

extension LongrunEngine {
    /// Events read from the log per step of a watch.
    static let watchBatch = 256

    /// The events of the collection (or of every collection a wildcard names) after `start`, each
    /// with its operation as of that event, then those of each commit as it lands: a client that
    /// resumes after the last sequence it saw misses nothing and sees nothing twice. `filter` sees
    /// the operation as of the event; owner-only `access` sees only its own operations.
    ///
    /// The name, the filter and the start are checked here (INVALID_ARGUMENT, OUT_OF_RANGE), before
    /// anything is streamed. The watch ends only by throwing: `CancellationError` when the task is
    /// cancelled or the engine closes.
    public func watch(collection name: String, filter: String, after start: WatchStart, access: Access = .unrestricted) async throws -> CollectionWatch {
        let scope = try ListScope(name: name, filter: filter, schemas: configuration.payloadSchemas)
        let position: UInt64
        switch start {
        case .head:
            position = try await appliedSequence()
        case .after(let sequence):
            position = sequence
            _ = try await events(after: sequence, limit: 0)  // OUT_OF_RANGE before the stream starts
        }
        return CollectionWatch(engine: self, scope: scope, access: access, start: position)
    }
}

/// A watch of one or more collections (``LongrunEngine/watch(collection:filter:after:access:)``).
public struct CollectionWatch: AsyncSequence, Sendable {
    public typealias Element = WatchedEvent

    let engine: LongrunEngine
    let scope: ListScope
    let access: Access
    let start: UInt64

    public func makeAsyncIterator() -> Iterator {
        Iterator(watch: self, position: start, states: StatesAsOfEvents(engine: engine))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let watch: CollectionWatch
        var position: UInt64
        var states: StatesAsOfEvents
        var pending: ArraySlice<Event> = []
        /// Whether the last read filled its batch: then more may be there already.
        var lastReadWasFull = true

        public mutating func next() async throws -> WatchedEvent? {
            let engine = watch.engine
            while true {
                while let event = pending.popFirst() {
                    position = event.sequence
                    guard watch.scope.collections.matches(event.name.collection) else { continue }
                    // The filter sees, and the event carries, the operation as it was right after it.
                    let (state, exact) = try await states.apply(event)
                    // Owner-only: a caller sees the transitions of its own operations alone.
                    guard watch.access.mayRead(state) else { continue }
                    if !watch.scope.filter.isEmpty, !watch.scope.filter.matches(state.filterRecord) { continue }
                    return WatchedEvent(event: event, state: exact ? state : nil)
                }
                if !lastReadWasFull { try await engine.waitForCommit(after: position) }
                let events = try await engine.events(after: position, limit: LongrunEngine.watchBatch)
                lastReadWasFull = events.count == LongrunEngine.watchBatch
                pending = events[...]
            }
        }
    }
}

/// The state of each operation of a watched collection as of the event being delivered: folded
/// forward from events the watch has seen, or from the operation's history on first sight.
///
/// An operation created before the retained log (its early events compacted) has no history to
/// fold: it is given its current state when the event is its latest (exact), and otherwise the
/// event goes out without a state and the filter sees the current state (docs/API.md).
struct StatesAsOfEvents {
    let engine: LongrunEngine
    /// Bounded: when full it starts over, and misses are folded from history again.
    static let capacity = 10_000
    private var states: [OperationName: OperationState] = [:]

    init(engine: LongrunEngine) {
        self.engine = engine
    }

    /// The operation's state right after `event`, and whether it is exact.
    mutating func apply(_ event: Event) async throws -> (state: OperationState, exact: Bool) {
        var prior = states[event.name]
        if prior == nil, case .created = event.kind {} else if prior == nil {
            do {
                prior = try await engine.state(of: event.name, at: event.sequence - 1)
            } catch let error as DomainError where error.reason == .historyCompacted {
                guard let current = try await engine.operationIncludingDeleted(event.name) else { throw error }
                let exact = current.lastSequence == event.sequence
                if exact { remember(current) }
                return (current, exact)
            }
        }
        guard let state = Lifecycle.apply(prior, event) else {
            throw DomainError(.outOfRange, reason: .historyCompacted, "the events of \(event.name) before \(event.sequence) are not in the log")
        }
        remember(state)
        return (state, true)
    }

    private mutating func remember(_ state: OperationState) {
        if states.count >= Self.capacity { states.removeAll(keepingCapacity: true) }
        states[state.name] = state
    }
}
