/// Cancelling or deleting many operations at once, by collection and filter: each one exactly as
/// its own command would (``Lifecycle/decide(_:state:context:)`` checks every rule, the caller's
/// permission included, per operation, and each change is its own event), counted.
public enum BulkAction: Hashable, Sendable {
    case cancel(reason: String)
    case delete

    /// The command that acts on one operation.
    public func command(_ name: OperationName) -> Command {
        switch self {
        case .cancel(let reason): .cancel(name: name, reason: reason)
        case .delete: .delete(name: name)
        }
    }

    /// An empty filter would act on every operation of the collection: only when asked for in so
    /// many words (`all`), never by leaving the filter out.
    public static func requireScope(filter: String, all: Bool) throws(DomainError) {
        guard all || !filter.allSatisfy(\.isWhitespace) else {
            throw DomainError(.invalidArgument, reason: .bulkNeedsFilter,
                              "a bulk cancel or delete needs a filter (e.g. `done = false`); to act on every operation of the collection, say so with all = true")
        }
    }
}

/// What a bulk action did: every operation the filter matched is changed, left as it was (a cancel
/// of a done or already cancelled operation), or refused with the error its own command would get.
public struct BulkReport: Hashable, Sendable {
    public var matched = 0
    public var changed = 0
    public var unchanged = 0
    public var refusedCount = 0
    /// The first ``maximumRefusalsReported`` refusals, in creation order.
    public var refused: [Refusal] = []

    public struct Refusal: Hashable, Sendable {
        public var name: OperationName
        public var error: DomainError
    }

    public static let maximumRefusalsReported = 100

    public init() {}

    /// Counts the outcome for one matched operation: whether its command appended an event, or
    /// the error it was refused with.
    public mutating func record(_ name: OperationName, _ outcome: Result<Bool, DomainError>) {
        switch outcome {
        case .success(true): changed += 1
        case .success(false): unchanged += 1
        case .failure(let error):
            refusedCount += 1
            if refused.count < Self.maximumRefusalsReported { refused.append(Refusal(name: name, error: error)) }
        }
    }
}
