import Logging
import LongrunDomain
import LongrunEngine
import Synchronization

/// The leases of the running operations one StreamTransitions stream created or updated, renewed
/// while the stream is open: each about every third of its TTL, all those due through one engine
/// call whose heartbeats share commits. An operation leaves the set once it is done, gone, or no
/// longer under a lease. Nothing survives the stream: when it ends, renewals stop.
///
/// Its time is `clock`'s (the continuous clock in the server), so that tests can move it.
final class StreamLeases<C: Clock<Duration>>: Sendable {
    private struct Lease {
        var ttl: Duration
        /// When the stream last renewed it (a create or update renews it too).
        var renewed: C.Instant
    }

    private let clock: C
    private let leased = Mutex<[OperationName: Lease]>([:])

    init(clock: C) {
        self.clock = clock
    }

    /// Called with each state a transition (or a renewal) of the stream left.
    func track(_ state: OperationState) {
        let now = clock.now
        leased.withLock { leased in
            if !state.done, let ttl = state.lease?.ttl { leased[state.name] = Lease(ttl: ttl, renewed: now) } else { leased[state.name] = nil }
        }
    }

    /// The operations whose last renewal is a third of their TTL old or older, by name.
    func due() -> [OperationName] {
        let now = clock.now
        return leased.withLock { leased in leased.filter { $0.value.renewed.duration(to: now) >= $0.value.ttl / 3 }.map(\.key) }.sorted()
    }

    /// How long the renewal loop sleeps: a sixth of the shortest TTL a lease may have
    /// (``Limits/leaseTTLRange``), whatever is tracked, so that a lease tracked while the loop
    /// sleeps is renewed by half its TTL, however short. (Sleeping a sixth of the shortest tracked
    /// TTL, a second when none was, a stream's first 1 s lease was looked at only after a second:
    /// as its lease ran out, so the engine could expire a living producer's operation.)
    static var pollInterval: Duration { Limits.leaseTTLRange.lowerBound / 6 }

    /// Renews until cancelled.
    func renew(engine: LongrunEngine, actor: Actor, access: Access, logger: Logger) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.pollInterval, clock: clock) } catch { return }
            let due = due()
            guard !due.isEmpty else { continue }
            for (name, result) in await engine.heartbeat(due, actor: actor, access: access) {
                switch result {
                case .success(let state): track(state)
                case .failure(let error as DomainError):
                    // Done, deleted, or no longer this caller's: nothing more to keep alive here.
                    leased.withLock { $0[name] = nil }
                    logger.debug("stopped renewing a stream's lease", metadata: ["name": "\(name)", "reason": "\(error.reason)"])
                case .failure(let error):
                    logger.warning("renewing a stream's lease failed; retrying", metadata: ["name": "\(name)", "error": "\(error)"])
                }
            }
        }
    }
}
