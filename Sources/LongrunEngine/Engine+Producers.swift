public import LongrunDomain
import LongrunStore
import Synchronization

/// What producers and consumers change: each goes through the group-commit writer and returns
/// after its commit.
extension LongrunEngine {
    // MARK: Producer side

    /// Creates an operation (done = false). With a request id seen before in the collection, returns
    /// that operation instead and appends nothing.
    public func create(_ request: CreateRequest, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(request, actor: actor, access: access) { continuation.resume(with: $0) }
        }
    }

    /// Replaces the metadata of a running operation. The result's ``OperationState/cancelRequest``
    /// tells the producer whether cancellation was requested.
    public func progress(_ name: OperationName, metadata: Payload?, expectedVersion: UInt64? = nil, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.progress(.init(name: name, metadata: metadata, expectedVersion: expectedVersion)), actor: actor, access: access)
    }

    /// Completes a running operation with a response or an error.
    public func complete(_ name: OperationName, outcome: Outcome, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.complete(name: name, outcome: outcome), actor: actor, access: access)
    }

    /// Renews the lease of a running operation (its creator's uid, its holder's, or unrestricted
    /// callers): one logged event that is not a transition, so it leaves the version as it was.
    /// The result tells the producer the new expire time and whether cancellation was requested.
    public func heartbeat(_ name: OperationName, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.heartbeat(name: name), actor: actor, access: access)
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
        try await writer.submit(.adopt(name: name, expectedVersion: expectedVersion, leaseTTL: leaseTTL), actor: actor, access: access)
    }

    /// Decides and commits `command` (any of the domain's; the methods above build the usual ones)
    /// and returns the operation's state after its commit: for edges that validate a request into
    /// the domain's command once and hand that value on.
    public func submit(_ command: Command, actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(command, actor: actor, access: access)
    }

    /// Queues `command` now, so commands are decided in call order, and calls `completion` after its
    /// commit: for callers that queue many without awaiting each (streams). `completion` runs on the
    /// writer's thread and must return quickly.
    ///
    /// With `leading`, for a caller answering one request: when the command is alone (nothing queued
    /// or being committed, and the writer idle since a batch of one for at least as long as that
    /// batch took), it is committed on the calling thread, which blocks for the commit's flush, and
    /// `completion` runs there before this returns (no hand-off to the writer's thread and back);
    /// otherwise it joins the next batch. (On the embedded LMDB store in `full` durability; else it is
    /// always queued.)
    public func enqueue(_ command: Command, actor: Actor, access: Access = .unrestricted, leading: Bool = false,
                        completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) {
        let offer = writer.offer(command, actor: actor, access: access, leading: mayLead(leading)) { completion($0.map(\.state)) }
        finish(offer) { completion(.failure($0)) }
    }

    /// `leading` on the embedded LMDB store, once its open has written what it must. Not on a
    /// shared backend: a PostgreSQL commit waits for network I/O that may need the very event loop
    /// the caller would block. Not while the open still writes (after a crash, while it flushes
    /// what the dead process left): a commit then waits for it, and a caller's thread must not.
    private func mayLead(_ leading: Bool) -> Bool {
        guard leading, let lmdb else { return false }
        return !lmdb.isOpening
    }

    /// Commits what ``GroupCommitWriter/offer(_:actor:access:leading:completion:)`` left to the
    /// caller, or fails a command the closed writer refused.
    private func finish(_ offer: GroupCommitWriter.Offer, failing: (any Error) -> Void) {
        switch offer {
        case .queued: break
        case .closed: failing(GroupCommitWriter.closedError)
        case .lead(let led): writer.commit(led)
        }
    }

    /// Queues a create as the other `enqueue` does, after naming
    /// the operation: its caller-chosen id, or one generated now. A generated id is drawn and queued
    /// under one lock, so queue order, and so commit order, is id order: generated ids sort in
    /// creation order (docs/API.md). `leading` as for a command; a create its caller commits is
    /// committed after the lock, ahead of every create queued behind it.
    public func enqueue(_ request: CreateRequest, actor: Actor, access: Access = .unrestricted, leading: Bool = false,
                        completion: @escaping @Sendable (Result<OperationState, any Error>) -> Void) {
        let forward: @Sendable (Result<GroupCommitWriter.Written, any Error>) -> Void = { completion($0.map(\.state)) }
        let offer: GroupCommitWriter.Offer
        do throws(DomainError) {
            if let id = request.id {
                let command = Command.create(request.command(named: try OperationName(collection: request.collection, id: id)))
                offer = writer.offer(command, actor: actor, access: access, leading: mayLead(leading), completion: forward)
            } else {
                let leading = mayLead(leading)
                offer = try idGenerator.withLock { generator throws(DomainError) -> GroupCommitWriter.Offer in
                    let id = generator.next(now: clock.now(), random: UInt32.random(in: .min ... .max))
                    guard let name = try? OperationName(collection: request.collection, id: id) else {
                        throw DomainError(.invalidArgument, reason: .invalidName, "collection \(request.collection) cannot hold a generated id")
                    }
                    return writer.offer(.create(request.command(named: name)), actor: actor, access: access, leading: leading, completion: forward)
                }
            }
        } catch {
            completion(.failure(error))
            return
        }
        finish(offer) { completion(.failure($0)) }
    }

    // MARK: Consumer side

    /// Requests cancellation. Succeeds without appending anything if the operation is done or a
    /// cancel was already requested.
    public func cancel(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.cancel(name: name, reason: reason), actor: actor, access: access)
    }

    /// Keeps an operation from expiring under the retention policy until released. Idempotent.
    public func hold(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.hold(name: name, reason: reason), actor: actor, access: access)
    }

    /// Lets a held operation expire again. Idempotent.
    public func release(_ name: OperationName, reason: String = "", actor: Actor, access: Access = .unrestricted) async throws -> OperationState {
        try await writer.submit(.release(name: name, reason: reason), actor: actor, access: access)
    }

    /// Deletes an operation: it is no longer served, but its history stays. Does not cancel it.
    public func delete(_ name: OperationName, actor: Actor, access: Access = .unrestricted) async throws {
        _ = try await writer.submit(.delete(name: name), actor: actor, access: access)
    }
}
