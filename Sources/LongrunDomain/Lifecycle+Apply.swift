/// The fold: how each event changes an operation's state (``Lifecycle/foldRevision`` names its rules).
extension Lifecycle {
    /// Folds `event` into `state`. Total: an event that does not fit (which a log written by
    /// ``decide(_:state:context:)`` never holds) leaves the state as it was.
    public static func apply(_ state: OperationState?, _ event: Event) -> OperationState? {
        var state = state
        return apply(&state, event) ? state : nil
    }

    /// ``apply(_:_:)-(OperationState?,_)`` in place, for folding many events without copying the
    /// state each time. Returns false (and leaves `state` nil) when `state` is nil and `event` is
    /// not `created`.
    public static func apply(_ state: inout OperationState?, _ event: Event) -> Bool {
        if case .created(let created) = event.kind {
            guard case .none = state else { return true }
            state = OperationState(
                name: event.name, metadata: created.metadata, outcome: nil, createTime: event.time,
                updateTime: event.time, endTime: nil, creator: event.actor, requestID: created.requestID,
                cancellation: created.cancellation, cancelRequest: nil, deletion: nil, version: 1,
                createSequence: event.sequence, lastSequence: event.sequence, requestFingerprint: created.requestFingerprint,
                lease: created.leaseTTL.map { .init(holder: event.actor, ttl: $0, expireTime: event.time + $0) }
            )
            return true
        }
        // Changed in place, through one projection of the optional's payload: changed through
        // `state!` at every step, the optional was checked and parts of the state copied each time;
        // taken out and put back (`take()`), the whole state was moved out and back (two copies of
        // its bytes per event).
        if case .none = state { return false }
        fold(event, into: &state!)
        return true
    }

    /// What an event other than a first `created` changes in an existing state, in place.
    private static func fold(_ event: Event, into state: inout OperationState) {
        switch event.kind {
        case .created:
            return
        case .progressed(let metadata):
            state.metadata = metadata
            state.renewLease(at: event.time)
        case .cancelRequested(let reason, let deadline):
            state.cancelRequest = .init(actor: event.actor, time: event.time, reason: reason, graceDeadline: deadline)
        case .completed(let outcome):
            guard state.outcome == nil else { return }
            state.outcome = outcome
            state.endTime = event.time
            state.lease = nil
        case .deleted:
            state.deletion = .init(actor: event.actor, time: event.time)
            state.lease = nil
            state.dropPayloads()
        case .expired:
            state.expireTime = event.time
            state.dropPayloads()
        case .holdSet(let reason):
            state.hold = .init(actor: event.actor, time: event.time, reason: reason)
        case .holdReleased:
            state.hold = nil
        case .repaired:
            break
        case .leaseRenewed:
            state.renewLease(at: event.time)
        case .adopted(let ttl):
            if state.outcome == nil {
                state.lease = (ttl ?? state.lease?.ttl).map { .init(holder: event.actor, ttl: $0, expireTime: event.time + $0) }
            }
        }
        if event.kind.isTransition {
            state.updateTime = event.time
            state.version += 1
        }
        state.lastSequence = event.sequence
    }
}
