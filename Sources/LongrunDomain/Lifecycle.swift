/// Every rule of the operation lifecycle, as two pure functions:
/// - ``decide(_:state:context:)`` checks a command against the current state and returns the
///   events to append (possibly none) or throws a ``DomainError``;
/// - ``apply(_:_:)`` folds one event into the state and cannot fail.
public enum Lifecycle {
    /// What ``decide(_:state:context:)`` knows besides the state of the command's operation.
    public struct Context: Sendable {
        public var now: Timestamp
        public var actor: Actor
        /// Grace for cooperative cancellation when the operation did not set its own.
        public var defaultCancelGrace: Duration
        /// For `create` with a request id: the operation that id already created, if any.
        public var priorForRequestID: OperationState?
        /// How long done operations are kept, by outcome.
        public var retention: RetentionPolicy
        /// What the caller may do (see ``Access``).
        public var access: Access
        /// When the deciding engine started: no lease expires sooner than its TTL after it
        /// (``Lifecycle/leaseExpiry(_:engineStart:)``). The distant past: no such grace.
        public var engineStart: Timestamp

        public init(now: Timestamp, actor: Actor, defaultCancelGrace: Duration, priorForRequestID: OperationState? = nil,
                    retention: RetentionPolicy = .keepForever, access: Access = .unrestricted,
                    engineStart: Timestamp = Timestamp(nanosecondsSinceEpoch: .min)) {
            self.engineStart = engineStart
            self.now = now
            self.actor = actor
            self.defaultCancelGrace = defaultCancelGrace
            self.priorForRequestID = priorForRequestID
            self.retention = retention
            self.access = access
        }

        /// The engine as the actor of the transitions it makes itself, on the caller's host.
        public var engineActor: Actor {
            var engine = Actor.engine
            engine.host = actor.host
            return engine
        }
    }

    /// The events to append, and the operation whose resulting state answers the caller (for an
    /// idempotent create, the one the request id created first).
    public struct Decision: Hashable, Sendable {
        public var subject: OperationName
        public var events: [Event.Draft]
    }

    public static let defaultCancelGrace: Duration = .seconds(30)

    /// The revision of the rules in ``apply(_:_:)``: views folded under another revision are folded
    /// again from the log when a store opens (docs/FORMAT.md). Raise it whenever a rule changes what
    /// an event does to the state.
    ///
    /// 1. The first rules.
    /// 2. A hold or its release is no transition (``Event/Kind/isTransition``): it leaves
    ///    ``OperationState/version`` and the update time as they were, so an administrator's hold
    ///    never fails a producer's next update on its expected version.
    /// 3. A deleted or expired operation keeps no payloads (``OperationState/dropPayloads()``):
    ///    its tombstone only says the name was used, so retention frees what it expires.
    public static let foldRevision: UInt32 = 3

    public static func decide(_ command: Command, state: OperationState?, context: Context) throws(DomainError) -> Decision {
        let name = command.name
        func decision(_ events: [Event.Draft]) -> Decision { Decision(subject: name, events: events) }
        func draft(_ kind: Event.Kind) -> Event.Draft { Event.Draft(actor: context.actor, kind: kind) }

        switch command {
        case .create(let create):
            try Limits.check(create.metadata, "the metadata")
            try Limits.checkLeaseTTL(create.leaseTTL)
            if let requestID = create.requestID {
                try validateRequestID(requestID)
                if let prior = context.priorForRequestID {
                    // A request id names one caller's attempt; another uid reusing it is not a retry.
                    guard context.access.mayChange(prior) else {
                        throw DomainError(.alreadyExists, reason: .requestIDInUse,
                                          "request_id '\(requestID)' was already used by another caller; use a fresh one (a UUID is typical)")
                    }
                    if let original = prior.requestFingerprint, original != create.fingerprint {
                        var error = DomainError(.alreadyExists, reason: .requestIDReused, """
                            request_id '\(requestID)' was used for another request (another operation id, metadata or cancellation), \
                            which created \(prior.name); repeat that request exactly to get \(prior.name), or use a fresh request_id for a new operation
                            """)
                        error.metadata = ["operation": prior.name.description]
                        throw error
                    }
                    guard !prior.isDeleted else {
                        let since = prior.expireTime != nil ? "expired under the retention policy" : "was deleted"
                        throw DomainError(.notFound, reason: .operationNotFound,
                                          "request_id '\(requestID)' already created operation \(prior.name), which \(since) since")
                    }
                    return Decision(subject: prior.name, events: [])
                }
            }
            if let state {
                throw DomainError(.alreadyExists, reason: .operationAlreadyExists,
                                  state.isDeleted
                                      ? "operation \(name) existed and was deleted; a name is not reused while its history is kept, so that the history stays unambiguous"
                                      : "operation \(name) already exists")
            }
            if case .cooperative(let grace?) = create.cancellation, grace < .zero {
                throw DomainError(.invalidArgument, reason: .invalidCancelGrace, "cancel grace must not be negative")
            }
            return decision([draft(.created(Event.Created(
                metadata: create.metadata, requestID: create.requestID, cancellation: create.cancellation,
                requestFingerprint: create.requestID == nil ? nil : create.fingerprint, leaseTTL: create.leaseTTL)))])

        case .progress(let progress):
            try context.access.requireChange(state, name, "update")
            try Limits.check(progress.metadata, "the metadata")
            let state = try requireLive(state, name)
            guard !state.done else { throw .alreadyDone(name, "update") }
            if let expected = progress.expectedVersion, expected != state.version {
                throw DomainError(.aborted, reason: .versionMismatch,
                                  "operation \(name) is at version \(state.version), not the expected \(expected); read it again and retry")
            }
            return decision([draft(.progressed(metadata: progress.metadata))])

        case .complete(_, let outcome):
            try context.access.requireChange(state, name, "complete")
            try Limits.check(outcome)
            let state = try requireLive(state, name)
            guard !state.done else { throw .alreadyDone(name, "complete") }
            if case .error(let status) = outcome, status.code == StatusCode.ok.rawValue {
                throw DomainError(.invalidArgument, reason: .invalidErrorStatus,
                                  "an error result needs a non-OK code; complete with a response for success")
            }
            return decision([draft(.completed(outcome))])

        case .cancel(_, let reason):
            try context.access.requireChange(state, name, "cancel")
            try Limits.checkReason(reason)
            let state = try requireLive(state, name)
            // Cancel is best effort and idempotent: a done operation or a repeated request changes nothing.
            guard !state.done, state.cancelRequest == nil else { return decision([]) }
            switch state.cancellation {
            case .immediate:
                return decision([
                    draft(.cancelRequested(reason: reason, graceDeadline: nil)),
                    Event.Draft(actor: context.engineActor, kind: .completed(.error(cancelledStatus(reason: reason, byGrace: nil)))),
                ])
            case .cooperative(let grace):
                let deadline = context.now + (grace ?? context.defaultCancelGrace)
                return decision([draft(.cancelRequested(reason: reason, graceDeadline: deadline))])
            }

        case .delete:
            try context.access.requireChange(state, name, "delete")
            _ = try requireLive(state, name)
            return decision([draft(.deleted)])

        case .expire:
            guard let state, !state.isDeleted, state.hold == nil, let outcome = state.outcome, let end = state.endTime,
                  let ttl = context.retention.timeToLive(outcome), context.now >= end + ttl
            else { return decision([]) }
            return decision([Event.Draft(actor: context.engineActor, kind: .expired)])

        case .hold(_, let reason):
            try context.access.requireUnrestricted(name, "hold")
            try Limits.checkReason(reason)
            let state = try requireLive(state, name)
            return decision(state.hold == nil ? [draft(.holdSet(reason: reason))] : [])

        case .release(_, let reason):
            try context.access.requireUnrestricted(name, "release")
            try Limits.checkReason(reason)
            let state = try requireLive(state, name)
            return decision(state.hold != nil ? [draft(.holdReleased(reason: reason))] : [])

        case .recordRepair(_, let detail):
            try context.access.requireUnrestricted(name, "repair")
            guard state != nil else {
                throw DomainError(.notFound, reason: .operationNotFound, "operation \(name) has no events to rebuild it from: it never existed")
            }
            try Limits.checkReason(detail)
            return decision([draft(.repaired(detail: detail))])

        case .heartbeat:
            try context.access.requireHeartbeat(state, name)
            let state = try requireLive(state, name)
            guard !state.done else { throw .alreadyDone(name, "renew the lease of") }
            guard state.lease != nil else {
                throw DomainError(.failedPrecondition, reason: .noLease,
                                  "operation \(name) has no lease to renew: it was created without one; adopt it with a lease to hold it under one")
            }
            // A heartbeat that reaches the writer before the expiry does renews the lease, even
            // past its expire time: the rule is applied when the expiry is decided, not before.
            return decision([draft(.leaseRenewed)])

        case .adopt(_, let expected, let ttl):
            try context.access.requireChange(state, name, "adopt")
            try Limits.checkLeaseTTL(ttl)
            let state = try requireLive(state, name)
            guard !state.done else { throw .alreadyDone(name, "adopt") }
            guard expected == state.version else {
                throw DomainError(.aborted, reason: .versionMismatch,
                                  "operation \(name) is at version \(state.version), not the expected \(expected); another producer may have adopted or updated it: read it again")
            }
            return decision([draft(.adopted(leaseTTL: ttl))])

        case .expireLease:
            guard let state, !state.isDeleted, !state.done, let lease = state.lease else { return decision([]) }
            let expiry = leaseExpiry(lease, engineStart: context.engineStart)
            guard context.now >= expiry else { return decision([]) }
            return decision([Event.Draft(actor: context.engineActor, kind: .completed(.error(leaseExpiredStatus(lease, expiry: expiry))))])

        case .enforceCancelGrace:
            guard let state, !state.isDeleted, !state.done,
                  let request = state.cancelRequest, let deadline = request.graceDeadline,
                  context.now >= deadline
            else { return decision([]) }
            let grace = deadline - request.time
            return decision([Event.Draft(actor: context.engineActor, kind: .completed(.error(
                cancelledStatus(reason: request.reason, byGrace: grace))))])
        }
    }

    /// When `lease` expires for an engine that started at `engineStart`: its expire time, but never
    /// sooner than its TTL after the engine started. Like etcd refreshing leases under a new
    /// leader, a restart (or a long pause of the daemon) gives every producer one full TTL to be
    /// heard from again instead of killing the live ones whose heartbeats it could not receive.
    public static func leaseExpiry(_ lease: OperationState.Lease, engineStart: Timestamp) -> Timestamp {
        max(lease.expireTime, engineStart + lease.ttl)
    }

    /// The next time the engine has to act on `state` by itself (a cancel grace ending or a lease
    /// expiring), for an engine that started at `engineStart`; nil when it has nothing to do.
    public static func nextEngineDeadline(_ state: OperationState, engineStart: Timestamp) -> Timestamp? {
        guard !state.isDeleted, !state.done else { return nil }
        let deadlines = [state.cancelRequest?.graceDeadline, state.lease.map { leaseExpiry($0, engineStart: engineStart) }]
        return deadlines.compactMap { $0 }.min()
    }

    package static func validateRequestID(_ requestID: String) throws(DomainError) {
        guard !requestID.isEmpty, requestID.utf8.count <= OperationName.maximumRequestIDLength,
              requestID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw DomainError(.invalidArgument, reason: .invalidRequestID,
                              "request_id must be 1 to \(OperationName.maximumRequestIDLength) printable ASCII characters without spaces (a UUID is typical)")
        }
    }

    /// Whether compacting the log through `sequence` forgets the operation whose state is `state`:
    /// it is deleted or expired, and every one of its events is at or before `sequence`. Its
    /// tombstone kept its name from being reused while its history could still be read; with that
    /// history compacted away, nothing can tell two operations of the name apart any more, so the
    /// tombstone goes (and its request id's entry with it) and the name may be created again. This
    /// is what lets a store under retention and compaction stop growing: otherwise every name ever
    /// used stays. A live operation is never forgotten, however old its events.
    public static func isForgotten(_ state: OperationState, compactedThrough sequence: UInt64) -> Bool {
        state.isDeleted && state.lastSequence <= sequence
    }

    /// The operation's state if it is live; NOT_FOUND saying whether it never existed, was
    /// deleted, or expired.
    public static func requireLive(_ state: OperationState?, _ name: OperationName) throws(DomainError) -> OperationState {
        guard let state else { throw .notFound(name) }
        guard !state.isDeleted else { throw state.expireTime != nil ? .expired(name) : .deleted(name) }
        return state
    }

    /// ABORTED, saying the producer stopped, with an `ErrorInfo` (reason `PRODUCER_LEASE_EXPIRED`)
    /// naming the holder's uid, pid and host.
    static func leaseExpiredStatus(_ lease: OperationState.Lease, expiry: Timestamp) -> Status {
        var metadata: [String: String] = [:]
        if let uid = lease.holder.uid { metadata["uid"] = String(uid) }
        if let pid = lease.holder.pid { metadata["pid"] = String(pid) }
        if let host = lease.holder.host { metadata["host"] = host }
        let info = ErrorInfo(reason: .producerLeaseExpired, metadata: metadata)
        return Status(.aborted, "the producer stopped (\(lease.holder)): its lease of \(lease.ttl) expired at \(expiry) without a heartbeat or update",
                      details: [info.payload])
    }

    private static func cancelledStatus(reason: String, byGrace grace: Duration?) -> Status {
        var message = reason.isEmpty ? "operation cancelled" : "operation cancelled: \(reason)"
        if let grace {
            message += " (the producer did not complete within the cancel grace of \(grace))"
        }
        return Status(.cancelled, message)
    }
}
