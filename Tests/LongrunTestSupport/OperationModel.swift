public import LongrunDomain

/// An in-memory model of the operations API, written independently of ``Lifecycle``, that the
/// model-based test compares the real engine with after every step.
public struct OperationModel {
    public struct Operation: Equatable {
        public var name: OperationName
        public var metadata: Payload?
        public var outcome: Outcome?
        /// True when the outcome came from the engine (grace or immediate), whose message the model does not predict.
        public var cancelledByEngine = false
        /// True when the engine ended it because its lease expired (ABORTED; the message is not predicted).
        public var abortedByLease = false
        /// The lease, while running under one: its TTL and when it expires (before the restart rule).
        public var leaseTTL: Duration?
        public var leaseExpiry: Timestamp?
        public var cancelRequested = false
        public var cancelDeadline: Timestamp?
        public var deleted = false
        public var version: UInt64 = 1
        public var immediate: Bool
        public var grace: Duration?
        public var creationOrder: Int
    }

    public enum Expected: Equatable, Sendable {
        case ok
        case error(DomainError.Kind)
    }

    public private(set) var operations: [OperationName: Operation] = [:]
    /// The first create request of each request id, per collection.
    private var requestIDs: [String: CreateRequestRecord] = [:]

    private struct CreateRequestRecord {
        var name: OperationName
        var metadata: Payload?
        var immediate: Bool
        var grace: Duration?
        var leaseTTL: Duration?
    }
    private var created = 0
    public let defaultGrace: Duration
    /// When the engine (re)started: no lease expires sooner than its TTL after that.
    public private(set) var engineStart = Timestamp(nanosecondsSinceEpoch: .min)

    /// The engine was (re)opened at `now`.
    public mutating func restarted(at now: Timestamp) {
        engineStart = now
    }

    public init(defaultGrace: Duration) {
        self.defaultGrace = defaultGrace
    }

    public func live(_ name: OperationName) -> Operation? {
        guard let operation = operations[name], !operation.deleted else { return nil }
        return operation
    }

    /// Live operations of a collection in creation order.
    public func list(_ collection: CollectionName, runningOnly: Bool = false) -> [Operation] {
        list(where: { $0 == collection }, runningOnly: runningOnly)
    }

    /// Live operations of every collection `covers` accepts (a wildcard read), in creation order
    /// across them.
    public func list(where covers: (CollectionName) -> Bool, runningOnly: Bool = false) -> [Operation] {
        operations.values
            .filter { covers($0.name.collection) && !$0.deleted && (!runningOnly || $0.outcome == nil) }
            .sorted { $0.creationOrder < $1.creationOrder }
    }

    public mutating func create(_ name: OperationName, metadata: Payload?, requestID: String?, immediate: Bool, grace: Duration?,
                                lease: Duration? = nil, now: Timestamp = Timestamp(nanosecondsSinceEpoch: 0)) -> (Expected, OperationName?) {
        // An immediate cancellation has no grace: the request carries none, so it cannot tell two apart.
        let grace = immediate ? nil : grace
        if let lease, lease < .seconds(1) || lease > .seconds(86_400) { return (.error(.invalidArgument), nil) }
        if let requestID, let first = requestIDs["\(name.collection)|\(requestID)"] {
            // The same request again gets the first result; another request with the id is refused.
            guard first.name == name, first.metadata == metadata, first.immediate == immediate, first.grace == grace, first.leaseTTL == lease else {
                return (.error(.alreadyExists), nil)
            }
            return operations[first.name]!.deleted ? (.error(.notFound), nil) : (.ok, first.name)
        }
        guard operations[name] == nil else { return (.error(.alreadyExists), nil) }
        created += 1
        operations[name] = Operation(name: name, metadata: metadata, leaseTTL: lease, leaseExpiry: lease.map { now + $0 },
                                     immediate: immediate, grace: grace, creationOrder: created)
        if let requestID {
            requestIDs["\(name.collection)|\(requestID)"] = CreateRequestRecord(name: name, metadata: metadata, immediate: immediate, grace: grace, leaseTTL: lease)
        }
        return (.ok, name)
    }

    /// A bulk cancel (or delete) of the live operations of the collections `covers` names that
    /// `matches` selects, in creation order, each as its own command: how many matched, changed (a
    /// cancel of a done or already cancelled operation changes nothing), and were left alone.
    public mutating func bulk(delete: Bool, covers: (CollectionName) -> Bool, matches: (Operation) -> Bool,
                              now: Timestamp) -> (matched: Int, changed: Int, unchanged: Int) {
        let targets = operations.values.filter { !$0.deleted && covers($0.name.collection) && matches($0) }
            .sorted { $0.creationOrder < $1.creationOrder }
        var changed = 0
        for target in targets {
            if delete {
                _ = self.delete(target.name)
                changed += 1
            } else {
                if target.outcome == nil && !target.cancelRequested { changed += 1 }
                _ = cancel(target.name, now: now)
            }
        }
        return (targets.count, changed, targets.count - changed)
    }

    public mutating func progress(_ name: OperationName, metadata: Payload?, expectedVersion: UInt64?,
                                  now: Timestamp = Timestamp(nanosecondsSinceEpoch: 0)) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        guard operation.outcome == nil else { return .error(.failedPrecondition) }
        if let expectedVersion, expectedVersion != operation.version { return .error(.aborted) }
        operation.metadata = metadata
        operation.version += 1
        if let ttl = operation.leaseTTL { operation.leaseExpiry = now + ttl }
        operations[name] = operation
        return .ok
    }

    public mutating func complete(_ name: OperationName, outcome: Outcome) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        guard operation.outcome == nil else { return .error(.failedPrecondition) }
        operation.outcome = outcome
        operation.version += 1
        operation.endLease()
        operations[name] = operation
        return .ok
    }

    /// A heartbeat: renews the lease of a running operation; no version.
    public mutating func heartbeat(_ name: OperationName, now: Timestamp) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        guard operation.outcome == nil, let ttl = operation.leaseTTL else { return .error(.failedPrecondition) }
        operation.leaseExpiry = now + ttl
        operations[name] = operation
        return .ok
    }

    /// An adoption at `expectedVersion`: the lease runs from now, for `lease` or its own TTL.
    public mutating func adopt(_ name: OperationName, expectedVersion: UInt64, lease: Duration?, now: Timestamp) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        guard operation.outcome == nil else { return .error(.failedPrecondition) }
        guard expectedVersion == operation.version else { return .error(.aborted) }
        operation.leaseTTL = lease ?? operation.leaseTTL
        operation.leaseExpiry = operation.leaseTTL.map { now + $0 }
        operation.version += 1
        operations[name] = operation
        return .ok
    }

    public mutating func cancel(_ name: OperationName, now: Timestamp) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        guard operation.outcome == nil, !operation.cancelRequested else { return .ok }
        operation.cancelRequested = true
        operation.version += 1
        if operation.immediate {
            operation.outcome = .error(Status(.cancelled, ""))
            operation.cancelledByEngine = true
            operation.version += 1
            operation.endLease()
        } else {
            operation.cancelDeadline = now + (operation.grace ?? defaultGrace)
        }
        operations[name] = operation
        return .ok
    }

    /// The log compacted through its head (with a snapshot there): every deleted operation is
    /// forgotten, and its request id with it; its name may be created again.
    public mutating func compacted() {
        operations = operations.filter { !$0.value.deleted }
        requestIDs = requestIDs.filter { operations[$0.value.name] != nil }
    }

    public mutating func delete(_ name: OperationName) -> Expected {
        guard var operation = live(name) else { return .error(.notFound) }
        operation.deleted = true
        operation.version += 1
        operations[name] = operation
        return .ok
    }

    /// The engine's deadline sweep: every pending cancel whose deadline has passed ends CANCELLED;
    /// then every lease that expired (no sooner than its TTL after the engine started) ends ABORTED.
    public mutating func enforceDeadlines(now: Timestamp) {
        for (name, var operation) in operations where !operation.deleted && operation.outcome == nil {
            if let deadline = operation.cancelDeadline, deadline <= now {
                operation.outcome = .error(Status(.cancelled, ""))
                operation.cancelledByEngine = true
            } else if let ttl = operation.leaseTTL, let expiry = operation.leaseExpiry, now >= max(expiry, engineStart + ttl) {
                operation.outcome = .error(Status(.aborted, ""))
                operation.abortedByLease = true
            } else {
                continue
            }
            operation.version += 1
            operation.endLease()
            operations[name] = operation
        }
    }

    /// Differences between the model's view of `name` and the engine's state, empty when they agree.
    public func differences(_ name: OperationName, engine: OperationState?) -> [String] {
        guard let model = operations[name] else {
            return engine == nil ? [] : ["engine has \(name), model does not"]
        }
        guard let engine else { return ["model has \(name), engine does not"] }
        var differences: [String] = []
        if model.metadata != engine.metadata { differences.append("metadata \(String(describing: model.metadata)) vs \(String(describing: engine.metadata))") }
        if model.deleted != engine.isDeleted { differences.append("deleted \(model.deleted) vs \(engine.isDeleted)") }
        if model.cancelRequested != (engine.cancelRequest != nil) { differences.append("cancelRequested \(model.cancelRequested)") }
        if model.version != engine.version { differences.append("version \(model.version) vs \(engine.version)") }
        if engine.done != (engine.outcome != nil) { differences.append("done without exactly one result") }
        if model.leaseTTL != engine.lease?.ttl || model.leaseExpiry != engine.lease?.expireTime {
            differences.append("lease \(String(describing: model.leaseTTL)) until \(String(describing: model.leaseExpiry)) vs \(String(describing: engine.lease))")
        }
        if model.abortedByLease {
            // ABORTED with an ErrorInfo; its message and metadata (the holder) are not predicted.
            if case .error(let status)? = engine.outcome, status.code == StatusCode.aborted.rawValue,
               status.details.map(\.typeURL) == [ErrorInfo.typeURL] {
            } else {
                differences.append("expected a lease expiry, got \(String(describing: engine.outcome))")
            }
        } else if model.cancelledByEngine {
            if engine.outcome?.isCancelled != true { differences.append("expected engine cancellation, got \(String(describing: engine.outcome))") }
        } else if model.outcome != engine.outcome {
            differences.append("outcome \(String(describing: model.outcome)) vs \(String(describing: engine.outcome))")
        }
        return differences.map { "\(name): \($0)" }
    }
}

extension OperationModel.Operation {
    /// A done operation holds no lease.
    mutating func endLease() {
        leaseTTL = nil
        leaseExpiry = nil
    }
}
