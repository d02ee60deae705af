public import LongrunDomain

/// What an operation's state puts in the indexes beside its record, for every backend: LMDB turns
/// these facts into index keys (`IndexEntries`), PostgreSQL into columns. The one place the rules
/// of which operation is listed, running, due for an engine deadline or a candidate for expiry live.
public struct IndexFacts: Hashable, Sendable {
    /// Listed by List (creation order): not deleted or expired.
    public var listed: Bool
    /// Listed and not done: `done = false` pages read only these.
    public var running: Bool
    /// The request id it was created with; kept after deletion, so a retry learns of it.
    public var requestID: String?
    /// While a listed operation is not done and the engine may have to act on it by itself: the
    /// earlier of its cooperative cancel's grace deadline and its lease's expire time. The engine's
    /// sweep reads the names due here and ``Lifecycle/decide(_:state:context:)`` tells which
    /// deadline, if any, has passed (a lease may run longer after a restart, by
    /// ``Lifecycle/leaseExpiry(_:engineStart:)``, so the entry is a lower bound).
    public var engineDeadline: Timestamp?
    /// While it is done, listed and not held: when it ended, by outcome class (retention).
    public var expiry: Expiry?

    public struct Expiry: Hashable, Sendable {
        public var outcomeClass: RetentionPolicy.OutcomeClass
        public var end: Timestamp

        public init(outcomeClass: RetentionPolicy.OutcomeClass, end: Timestamp) {
            self.outcomeClass = outcomeClass
            self.end = end
        }
    }

    public init(_ state: OperationState?) {
        guard let state else {
            (listed, running, requestID, engineDeadline, expiry) = (false, false, nil, nil, nil)
            return
        }
        listed = Self.isListed(state)
        running = listed && !state.done
        requestID = state.requestID
        engineDeadline = running ? Self.earlier(state.cancelRequest?.graceDeadline, state.lease?.expireTime) : nil
        if listed, state.hold == nil, let outcome = state.outcome, let end = state.endTime {
            expiry = Expiry(outcomeClass: RetentionPolicy.outcomeClass(outcome), end: end)
        } else {
            expiry = nil
        }
    }
}

extension IndexFacts {
    /// Whether `state` is listed (``listed``): not deleted or expired.
    static func isListed(_ state: OperationState) -> Bool { !state.isDeleted }

    /// The earlier of two times, either of which may be missing (without building an array:
    /// replay computes this for every operation it changes).
    static func earlier(_ a: Timestamp?, _ b: Timestamp?) -> Timestamp? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }
}

/// An entry of the engine-deadline index: the operation and its ``IndexFacts/engineDeadline``.
/// Entries sort by deadline, then name; one also serves as the position to read on from.
public struct EngineDeadline: Hashable, Sendable {
    public var deadline: Timestamp
    public var name: OperationName

    public init(deadline: Timestamp, name: OperationName) {
        self.deadline = deadline
        self.name = name
    }
}
