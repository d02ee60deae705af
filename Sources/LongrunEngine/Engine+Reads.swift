public import LongrunDomain
import LongrunStore

/// Reads: each runs on the caller's task against the store, never waiting for the writer.
extension LongrunEngine {
    /// The current state of a live operation; NOT_FOUND if unknown or deleted; PERMISSION_DENIED,
    /// checked first, if `access` may not read it.
    public func get(_ name: OperationName, access: Access = .unrestricted) async throws -> OperationState {
        try Self.visible(try await read { try await $0.operation(name) }, name, access: access)
    }

    /// What ``get(_:access:)`` and ``getImmediately(_:access:)`` answer for a state read: it, if the
    /// caller may read it and it is live.
    private static func visible(_ state: OperationState?, _ name: OperationName, access: Access) throws -> OperationState {
        try access.requireRead(state, name)
        return try Lifecycle.requireLive(state, name)
    }

    /// Whether ``getImmediately(_:access:)`` may be called: the store answers point reads on the
    /// caller's thread (LMDB does; PostgreSQL, whose reads wait on the network, does not).
    public var readsImmediately: Bool { store is any ImmediateReads }

    /// ``get(_:access:)`` answered on the caller's thread without suspending, with the same rules
    /// and errors, for a caller that must not suspend: the server answers GetOperation on the
    /// connection's event loop this way. Only when ``readsImmediately``.
    public func getImmediately(_ name: OperationName, access: Access = .unrestricted) throws -> OperationState {
        try Self.visible(try readImmediately { try $0.operationImmediately(name) }, name, access: access)
    }

    /// One page of a collection's operations in creation order (AIP-158, AIP-160), or of every
    /// collection a wildcard names (AIP-159, ``CollectionSet``), merged in creation order across
    /// them with one keyset token. With owner-only `access`, only the caller's own operations.
    public func list(_ request: ListRequest, access: Access = .unrestricted) async throws -> ListResponse {
        let (query, binding) = try listQuery(request, access: access)
        return Self.listResponse(try await read { try await $0.list(query) }, binding: binding)
    }

    /// ``list(_:access:)`` answered on the caller's thread without suspending, with the same rules
    /// and errors, when the page reads only the records it returns (one collection, no owner check,
    /// no filter but `done = false`: ``ListQuery/everyCandidateMatches``) and holds at most
    /// ``immediateListPageSize`` of them, so that its cost is small and bounded; nil, having read
    /// nothing, for any other list, which the caller then lists with ``list(_:access:)``. The
    /// server answers ListOperations on the connection's event loop this way. Only when
    /// ``readsImmediately``.
    public func listImmediately(_ request: ListRequest, access: Access = .unrestricted) throws -> ListResponse? {
        let (query, binding) = try listQuery(request, access: access)
        guard query.everyCandidateMatches, query.pageSize <= Self.immediateListPageSize else { return nil }
        return Self.listResponse(try readImmediately { try $0.listImmediately(query) }, binding: binding)
    }

    /// The largest page ``listImmediately(_:access:)`` answers (the default page is 50).
    public static let immediateListPageSize = 100

    /// What a List request asks the store for, and the binding of its page tokens: the request's
    /// checks, made before anything is read.
    private func listQuery(_ request: ListRequest, access: Access) throws -> (ListQuery, binding: UInt64) {
        let scope = try ListScope(name: request.name, filter: request.filter, schemas: configuration.payloadSchemas)
        let (collections, filter) = (scope.collections, scope.filter)
        let pageSize = try ListRequest.effectivePageSize(request.pageSize)
        let binding = PageToken.binding(collections.description, filter.canonical)
        let after = request.pageToken.isEmpty ? 0 : try PageToken(decoding: request.pageToken, expectedBinding: binding).position
        let query = ListQuery(collections: collections, filter: filter, afterCreateSequence: after, pageSize: pageSize,
                              creatorUID: access.listsOnlyUID)
        return (query, binding)
    }

    private static func listResponse(_ page: ListPage, binding: UInt64) -> ListResponse {
        ListResponse(operations: page.operations,
                     nextPageToken: page.resumeAfter.map { PageToken(position: $0, binding: binding).encoded } ?? "")
    }

    /// The collections that hold live operations (not deleted or expired), in name order of their
    /// parents (the root first), `name` restricting them (``CollectionSet``: `""` or `-` every
    /// collection, `tenants/-`, or one collection), paged by the last parent returned.
    /// Only names: a count per collection would read every operation of it on LMDB.
    /// PERMISSION_DENIED for a caller that reads only its own operations (``Access``).
    public func collections(_ request: CollectionsRequest, access: Access = .unrestricted) async throws -> CollectionsPage {
        try access.requireListCollections()
        let set = request.name.isEmpty ? CollectionSet.all : try CollectionSet(listName: request.name)
        let pageSize = try ListRequest.effectivePageSize(request.pageSize)
        let binding = PageToken.binding("collections", set.description)
        let after = request.pageToken.isEmpty ? nil : try CollectionPageToken(decoding: request.pageToken, expectedBinding: binding).after
        // One more than the page: whether another page follows.
        var page = try await read { store in try await store.collections(matching: set, after: after, limit: pageSize + 1) }
        guard page.count > pageSize else { return CollectionsPage(collections: page, nextPageToken: "") }
        page.removeLast()
        return CollectionsPage(collections: page, nextPageToken: CollectionPageToken(after: page.last!.parent, binding: binding).encoded)
    }

    /// The transitions of one operation, deleted ones included, oldest first, each with the
    /// operation's version right after it.
    public func history(of name: OperationName, pageSize: Int32 = 0, pageToken: String = "", access: Access = .unrestricted) async throws -> HistoryPage {
        let size = try ListRequest.effectivePageSize(pageSize)
        let binding = PageToken.binding("history", name.description)
        let after = pageToken.isEmpty ? 0 : try PageToken(decoding: pageToken, expectedBinding: binding).position
        return try await read { store in
            let state = try await store.operation(name)
            try access.requireRead(state, name)
            guard let state else { throw DomainError(.notFound, reason: .operationNotFound, "operation \(name) has no history: it never existed") }
            if let tail = try await store.logTail(), state.createSequence < tail, after + 1 < tail {
                throw DomainError(.outOfRange, reason: .historyCompacted,
                                  "the log keeps events from sequence \(tail) on; the earlier history of \(name) was compacted. Its current state is still served by GetOperation")
            }
            var events = try await store.events(of: name, after: after, limit: size + 1)
            var next = ""
            if events.count > size {
                events.removeLast()
                next = PageToken(position: events.last!.sequence, binding: binding).encoded
            }
            // Counted on from the version before the page.
            var before: UInt64 = 0
            if let first = events.first, first.sequence > 1 {
                before = try await store.state(of: name, at: first.sequence - 1)?.version ?? 0
            }
            return HistoryPage(events: events, versions: Event.versions(of: events, after: before), nextPageToken: next)
        }
    }

    /// Returns as soon as the operation is done, or its current state when `timeout` passes
    /// (nil: no timeout; the caller's task cancellation ends the wait). NOT_FOUND if it is
    /// unknown or gets deleted. Throws `CancellationError` if the calling task is cancelled.
    public func wait(_ name: OperationName, timeout: Duration?, access: Access = .unrestricted) async throws -> OperationState {
        let deadline = timeout.map { ContinuousClock.now + max($0, .zero) }
        var announced: ContinuousClock.Instant?
        while true {
            // The sequence first, then the state: the state is at least that new, so a change
            // after it has a later sequence and wakes this waiter.
            let (seen, state): (UInt64, OperationState?)
            do {
                (seen, state) = try await read { store in (try await store.appliedSequence(), try await store.operation(name)) }
            } catch where isClosed {
                // Woken as the engine closes, the store may already be gone (a PostgreSQL pool
                // closed under the read): the wait ends as any wait the close ends.
                throw CancellationError()
            }
            if let woken = announced {
                recordWakeUp(announced: woken)
                announced = nil
            }
            try access.requireRead(state, name)
            let live = try Lifecycle.requireLive(state, name)
            if live.done { return live }
            switch await waiters.waitForChange(of: name, after: seen, deadline: deadline) {
            case .changed(let woken):
                announced = woken
                continue
            case .timedOut:
                return try await get(name)
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    /// One step of ``wait(_:timeout:access:)`` for a caller that must not suspend (the server
    /// answers WaitOperation on the connection's event loop this way): the operation's state if
    /// the wait is over (it is done, or `deadline` has passed), or a registration whose `wake` is
    /// called once on the next change, at the deadline, or when the engine closes, on whichever
    /// thread that happens. The caller then takes the next step; ``cancelWait(_:)`` takes a
    /// registration back, and hands the ``WakeUp`` `wake` was given to the next step (`after`),
    /// which reports how long the wake-up took to the ``observeWakeUps(_:)`` observer. Same rules
    /// and errors as ``wait(_:timeout:access:)``; throws `CancellationError` once the engine is
    /// closed. Only when ``readsImmediately``.
    public func waitImmediately(_ name: OperationName, deadline: ContinuousClock.Instant?, access: Access = .unrestricted,
                                after wakeUp: WakeUp? = nil, wake: @escaping @Sendable (WakeUp) -> Void) throws -> WaitStep {
        var announced = wakeUp?.announced
        while true {
            // The announced sequence first, then the state: the state is at least that new, so a
            // change it does not show is announced later and wakes this waiter.
            let seen = waiters.committedThrough
            let state = try getImmediately(name, access: access)
            if let woken = announced {
                recordWakeUp(announced: woken)
                announced = nil
            }
            if state.done { return .over(state) }
            let registration = waiters.register(name, after: seen, deadline: deadline) { woken in
                if case .changed(let announced) = woken {
                    wake(WakeUp(announced: announced))
                } else {
                    wake(WakeUp(announced: nil))
                }
            }
            switch registration {
            case .waiting(let id): return .waiting(WaitRegistration(name: name, id: id))
            case .immediate(.changed): continue
            case .immediate(.timedOut): return .over(state)
            case .immediate(.cancelled): throw CancellationError()
            }
        }
    }

    /// Takes back a registration of ``waitImmediately(_:deadline:access:after:wake:)`` whose caller
    /// is gone (its stream closed); its `wake` may still be called if it was under way.
    public func cancelWait(_ registration: WaitRegistration) {
        waiters.unregister(registration.id, of: registration.name)
    }

    // MARK: The log

    /// Up to `limit` events of the log after `sequence`, oldest first.
    /// OUT_OF_RANGE if `sequence` is beyond the head or older than what the log retains.
    public func events(after sequence: UInt64, limit: Int) async throws -> [Event] {
        try await read { store in
            let head = try await store.appliedSequence()
            guard sequence <= head else {
                throw DomainError(.outOfRange, reason: .sequenceAheadOfLog,
                                  "sequence \(sequence) is beyond the newest event \(head); resume from \(head) or earlier")
            }
            if let tail = try await store.logTail(), sequence + 1 < tail {
                throw DomainError(.outOfRange, reason: .sequenceCompacted,
                                  "events up to \(tail - 1) were compacted; the log starts at \(tail). Re-read current state with ListOperations and watch from \(tail - 1)")
            }
            return try await store.events(after: sequence, limit: limit)
        }
    }

    /// Returns once an event after `sequence` is committed (at once if one already is). Throws
    /// `CancellationError` when the task is cancelled or the engine closes.
    public func waitForCommit(after sequence: UInt64) async throws {
        if case .cancelled = await waiters.waitForCommit(after: sequence) { throw CancellationError() }
    }

    /// The state `name` had right after the event at `sequence`; nil if it did not exist yet.
    /// OUT_OF_RANGE if its early events were compacted.
    public func state(of name: OperationName, at sequence: UInt64) async throws -> OperationState? {
        try await read { try await $0.state(of: name, at: sequence) }
    }

    /// The state of `name` as the views hold it now, deleted ones included; nil if it never existed.
    public func operationIncludingDeleted(_ name: OperationName) async throws -> OperationState? {
        try await read { try await $0.operation(name) }
    }
}

/// What one step of ``LongrunEngine/waitImmediately(_:deadline:access:after:wake:)`` left.
public enum WaitStep: Sendable {
    /// The wait is over: the operation is done, or the deadline passed; this is its state.
    case over(OperationState)
    /// Registered: its `wake` will be called.
    case waiting(WaitRegistration)
}

/// What woke a waiter of ``LongrunEngine/waitImmediately(_:deadline:access:after:wake:)``, for its
/// next step.
public struct WakeUp: Sendable {
    /// When the commit that woke it was announced; nil for a deadline or the engine's close.
    let announced: ContinuousClock.Instant?
}

/// A waiter filed by ``LongrunEngine/waitImmediately(_:deadline:access:after:wake:)``.
public struct WaitRegistration: Sendable {
    let name: OperationName
    let id: UInt64
}
