import LongrunDomain

/// What an operation's state puts in the indexes beside its record, for every backend: LMDB turns
/// these facts into index keys (`IndexEntries`), PostgreSQL into columns. The one place the rules
/// of which operation is listed, running, due for a cancel deadline or a candidate for expiry live.
public struct IndexFacts: Hashable, Sendable {
    /// Listed by List (creation order): not deleted or expired.
    public var listed: Bool
    /// Listed and not done: `done = false` pages read only these.
    public var running: Bool
    /// The request id it was created with; kept after deletion, so a retry learns of it.
    public var requestID: String?
    /// While a cooperative cancel's grace runs on a listed operation that is not done.
    public var cancelDeadline: Timestamp?
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
            (listed, running, requestID, cancelDeadline, expiry) = (false, false, nil, nil, nil)
            return
        }
        listed = !state.isDeleted
        running = listed && !state.done
        requestID = state.requestID
        cancelDeadline = running ? state.cancelRequest?.graceDeadline : nil
        if listed, state.hold == nil, let outcome = state.outcome, let end = state.endTime {
            expiry = Expiry(outcomeClass: RetentionPolicy.outcomeClass(outcome), end: end)
        } else {
            expiry = nil
        }
    }
}
