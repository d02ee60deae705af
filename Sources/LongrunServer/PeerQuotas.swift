import LongrunDomain
import Synchronization

/// Caps on the long-held calls one uid may have open at once (WaitOperation, WatchOperations), so
/// one caller cannot tie up the daemon's memory for everyone else. Short calls need no cap: each
/// is bounded by the request size and the page size.
final class PeerQuotas: Sendable {
    enum Kind: String, Sendable {
        case wait = "WaitOperation calls"
        case watch = "WatchOperations streams"
    }

    struct Limits: Sendable {
        var waits: Int
        var watches: Int
    }

    private struct Key: Hashable {
        var uid: UInt32
        var kind: Kind
    }

    let limits: Limits
    private let open = Mutex<[Key: Int]>([:])

    init(limits: Limits) {
        self.limits = limits
    }

    /// Runs `body` holding one of `peer`'s slots of `kind`; RESOURCE_EXHAUSTED if none is free.
    func withSlot<R: Sendable>(_ kind: Kind, for peer: PeerCredentials, _ body: () async throws -> R) async throws -> R {
        try acquire(kind, for: peer)
        defer { release(kind, for: peer) }
        return try await body()
    }

    /// Takes one of `peer`'s slots of `kind`, for a caller that cannot hold it across a closure (an
    /// event loop's wait): RESOURCE_EXHAUSTED if none is free. Give it back with ``release(_:for:)``, once.
    func acquire(_ kind: Kind, for peer: PeerCredentials) throws(DomainError) {
        let key = Key(uid: peer.uid, kind: kind)
        let limit = kind == .wait ? limits.waits : limits.watches
        let acquired = open.withLock { open in
            let count = open[key, default: 0]
            guard count < limit else { return false }
            open[key] = count + 1
            return true
        }
        guard acquired else {
            throw DomainError(.resourceExhausted, reason: .tooManyOpenCalls,
                              "uid \(peer.uid) already has \(limit) \(kind.rawValue) open, the most one uid may; close some, or raise the daemon's limit")
        }
    }

    /// Gives back a slot ``acquire(_:for:)`` took.
    func release(_ kind: Kind, for peer: PeerCredentials) {
        let key = Key(uid: peer.uid, kind: kind)
        open.withLock { open in
            let count = open[key, default: 1] - 1
            open[key] = count == 0 ? nil : count
        }
    }

    /// How many slots of `kind` all uids hold now (the metrics' waiters and watchers).
    func totalOpen(_ kind: Kind) -> Int {
        open.withLock { $0.reduce(0) { $0 + ($1.key.kind == kind ? $1.value : 0) } }
    }

    /// How many slots of `kind` `uid` holds now.
    func openCount(_ kind: Kind, uid: UInt32) -> Int {
        open.withLock { $0[Key(uid: uid, kind: kind), default: 0] }
    }
}
