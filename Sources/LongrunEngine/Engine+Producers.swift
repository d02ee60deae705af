import LongrunDomain

/// What producers and consumers change: each goes through the group-commit writer and returns
/// after its commit.
extension LongrunEngine {
    // MARK: Producer side

    /// Creates an operation (done = false). With a request id seen before in the collection, returns
    /// that operation instead and appends nothing.
    public func create(_ request: CreateRequest, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.create(request), actor: actor, access: access)
    }

    /// Replaces the metadata of a running operation. The result's ``OperationState/cancelRequest``
    /// tells the producer whether cancellation was requested.
    public func progress(_ name: OperationName, metadata: Payload?, expectedVersion: UInt64? = nil, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.progress(.init(name: name, metadata: metadata, expectedVersion: expectedVersion))), actor: actor, access: access)
    }

    /// Completes a running operation with a response or an error.
    public func complete(_ name: OperationName, outcome: Outcome, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.complete(name: name, outcome: outcome)), actor: actor, access: access)
    }

    /// Renews the lease of a running operation (its creator's uid, its holder's, or unrestricted
    /// callers): one logged event that is not a transition, so it leaves the version as it was.
    /// The result tells the producer the new expire time and whether cancellation was requested.
    public func heartbeat(_ name: OperationName, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.heartbeat(name: name)), actor: actor, access: access)
    }

    /// Renews the leases of several operations at once, sharing commits (a stream's renewals);
    /// each result stands alone, so one operation done or gone does not fail the others.
    public func heartbeat(_ names: [OperationName], actor: Actor, access: Access = .unrestricted) async -> [OperationName: Result<OperationState, any Error>] {
        await withTaskGroup(of: (OperationName, Result<OperationState, any Error>).self) { group in
            for name in names {
                group.addTask {
                    do { return (name, .success(try await self.heartbeat(name, actor: actor, access: access))) } catch { return (name, .failure(error)) }
                }
            }
            var results: [OperationName: Result<OperationState, any Error>] = [:]
            for await (name, result) in group { results[name] = result }
            return results
        }
    }

    /// Takes a running operation over at `expectedVersion` (its creator's uid or unrestricted
    /// callers): the caller holds its lease from now on, for `leaseTTL` or the lease's own TTL.
    public func adopt(_ name: OperationName, expectedVersion: UInt64, leaseTTL: Duration? = nil, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.adopt(name: name, expectedVersion: expectedVersion, leaseTTL: leaseTTL)), actor: actor, access: access)
    }

    /// A producer transition, for callers that queue many without awaiting each (streams).
    public enum Transition: Sendable {
        case create(CreateRequest)
        case progress(OperationName, metadata: Payload?, expectedVersion: UInt64?)
        case complete(OperationName, Outcome)
    }

    /// Queues `transition` now, so transitions are applied in call order, and calls `completion`
    /// after its commit. `completion` runs on the writer's thread and must return quickly.
    public func enqueue(_ transition: Transition, actor: Actor, access: Access = .unrestricted, completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) {
        let request: WriteRequest = switch transition {
        case .create(let create): .create(create)
        case .progress(let name, let metadata, let expected): .command(.progress(.init(name: name, metadata: metadata, expectedVersion: expected)))
        case .complete(let name, let outcome): .command(.complete(name: name, outcome: outcome))
        }
        writer.enqueue(request, actor: actor, access: access, completion: completion)
    }

    // MARK: Consumer side

    /// Requests cancellation. Succeeds without appending anything if the operation is done or a
    /// cancel was already requested.
    public func cancel(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.cancel(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Keeps an operation from expiring under the retention policy until released. Idempotent.
    public func hold(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.hold(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Lets a held operation expire again. Idempotent.
    public func release(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.command(.release(name: name, reason: reason)), actor: actor, access: access)
    }

    /// Deletes an operation: it is no longer served, but its history stays. Does not cancel it.
    public func delete(_ name: OperationName, actor: Actor, access: Access = .unrestricted) async throws {
        _ = try await writer.submit(.command(.delete(name: name)), actor: actor, access: access)
    }
}
