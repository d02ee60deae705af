import LongrunDomain
import Synchronization

/// Caps on what one uid may hold of the daemon's memory at once, so that one caller cannot tie it
/// up for everyone else: the long-held calls (WaitOperation, WatchOperations); the request messages
/// still arriving; the writes waiting for their commits; and the answers written but not yet read.
/// A message that comes in pieces is held until its last piece, a write until its commit, and an
/// answer until the peer's HTTP/2 window lets it out, each up to megabytes, on every stream a
/// connection may open (17,664), on every connection: uncapped, one connection of 200 streams
/// whose messages never ended took the daemon to 857 MB, and one whose client asked for a 1 MB
/// operation on 3,000 streams and read nothing, to 2.9 GB.
final class PeerQuotas: Sendable {
    enum Kind: String, Sendable {
        case wait = "WaitOperation calls"
        case watch = "WatchOperations streams"
    }

    struct Limits: Sendable {
        var waits: Int
        var watches: Int
        /// Bytes of request messages a uid may have arriving at once, by the size each announces;
        /// and, counted apart, bytes of writes it may have waiting for their commits, and of
        /// answers it may leave unread.
        var bufferedBytes: Int
        /// Calls (HTTP/2 streams) a uid may have open at once on all its connections: as many as
        /// one connection may carry. Unset: as many as its waits and watches and 1,024 more.
        var streams: Int?

        /// Connections a uid may hold open at once, on the gRPC and HTTP sockets together.
        var connections = 1_024

        /// What one connection may carry, and one uid on all its connections.
        var streamsPerPeer: Int { streams ?? waits + watches + 1_024 }
    }

    private struct Key: Hashable {
        var uid: UInt32
        var kind: Kind
    }

    let limits: Limits
    private let open = Mutex<[Key: Int]>([:])
    /// Bytes of request messages arriving, by uid (nil: a connection without credentials).
    private let pending = Mutex<[UInt32?: Int]>([:])
    /// Bytes of writes waiting for their commits, by uid.
    private let queued = Mutex<[UInt32?: Int]>([:])
    /// Bytes of answers written and not yet sent, by uid.
    private let unread = Mutex<[UInt32?: Int]>([:])
    /// Open calls, by uid: one counter per uid, handed to each of its connections.
    private let streams = Mutex<[UInt32?: PeerStreams]>([:])
    private let connections = Mutex(Connections())

    /// When to warn of refused connections.
    private let refusalWarnings = ReportEveryMinute()

    /// Open connections, by uid (nil: connections without credentials), and the refusals.
    private struct Connections {
        var open: [UInt32?: Int] = [:]
        var total = 0
        var refused = 0
    }

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

    /// Request bytes a uid holds, each kind counted apart against the same limit.
    private enum Held: Sendable {
        /// Messages still arriving in pieces, by the size each announces.
        case arriving
        /// Writes decoded and waiting for their commits: their request messages.
        case queued

        var description: String {
            switch self {
            case .arriving: "request messages arriving"
            case .queued: "writes waiting for their commits"
            }
        }
    }

    /// Charges `bytes` of a request message still arriving to `uid`: RESOURCE_EXHAUSTED, charging
    /// nothing, if that would take the uid past its limit. Give them back with
    /// ``releasePending(_:uid:)`` once the message is whole or its stream ends.
    func chargePending(_ bytes: Int, uid: UInt32?) throws(DomainError) {
        try charge(bytes, .arriving, uid: uid)
    }

    /// Gives back bytes ``chargePending(_:uid:)`` took.
    func releasePending(_ bytes: Int, uid: UInt32?) {
        release(bytes, .arriving, uid: uid)
    }

    /// The bytes of request messages `uid` has arriving now.
    func pendingBytes(uid: UInt32?) -> Int { withCounts(.arriving) { $0[uid, default: 0] } }

    /// The bytes of request messages all uids have arriving now (the metrics).
    func totalPendingBytes() -> Int { withCounts(.arriving) { $0.values.reduce(0, +) } }

    /// Charges a write's request (`bytes`) to `uid` until its commit answers it, counted apart from
    /// the messages it has arriving: behind a slow disk, the writes one uid may have waiting would
    /// otherwise be bounded only by its calls. RESOURCE_EXHAUSTED, charging nothing, past the limit;
    /// give them back with ``releaseQueued(_:uid:)``.
    func chargeQueued(_ bytes: Int, uid: UInt32?) throws(DomainError) {
        try charge(bytes, .queued, uid: uid)
    }

    /// Gives back bytes ``chargeQueued(_:uid:)`` took.
    func releaseQueued(_ bytes: Int, uid: UInt32?) {
        release(bytes, .queued, uid: uid)
    }

    /// Runs `body` with `bytes` of a write charged to `peer`'s uid (``chargeQueued(_:uid:)``).
    func holding<R>(_ bytes: Int, for peer: PeerCredentials, _ body: () async throws -> R) async throws -> R {
        try chargeQueued(bytes, uid: peer.uid)
        defer { releaseQueued(bytes, uid: peer.uid) }
        return try await body()
    }

    /// Runs `enqueue` with `bytes` of a write charged to `uid` (``chargeQueued(_:uid:)``), for a
    /// write answered by a completion rather than awaited: `enqueue` hands `release` to that
    /// completion, which calls it once; if `enqueue` throws, the charge is given back here.
    func queueing(_ bytes: Int, uid: UInt32?, _ enqueue: (_ release: @escaping @Sendable () -> Void) throws -> Void) throws {
        try chargeQueued(bytes, uid: uid)
        do {
            try enqueue { self.releaseQueued(bytes, uid: uid) }
        } catch {
            releaseQueued(bytes, uid: uid)
            throw error
        }
    }

    /// The bytes of writes `uid` has waiting for their commits now.
    func queuedBytes(uid: UInt32?) -> Int { withCounts(.queued) { $0[uid, default: 0] } }

    /// The bytes of writes all uids have waiting for their commits now (the metrics).
    func totalQueuedBytes() -> Int { withCounts(.queued) { $0.values.reduce(0, +) } }

    private func charge(_ bytes: Int, _ held: Held, uid: UInt32?) throws(DomainError) {
        let limit = limits.bufferedBytes
        let refused: Int? = withCounts(held) { counts in
            let holding = counts[uid, default: 0]
            guard holding + bytes <= limit else { return holding }
            counts[uid] = holding + bytes
            return nil
        }
        if let holding = refused {
            let who = uid.map { "uid \($0)" } ?? "this connection"
            throw DomainError(.resourceExhausted, reason: .tooManyPendingBytes,
                              "\(who) has \(holding) bytes of \(held.description), and this one needs \(bytes) more: past the \(limit) one uid may have; send fewer large requests at once, or raise the daemon's --max-buffered-bytes-per-peer")
        }
    }

    private func release(_ bytes: Int, _ held: Held, uid: UInt32?) {
        guard bytes > 0 else { return }
        withCounts(held) { counts in
            let holding = counts[uid, default: bytes] - bytes
            counts[uid] = holding == 0 ? nil : holding
        }
    }

    private func withCounts<R: Sendable>(_ held: Held, _ body: (inout [UInt32?: Int]) -> R) -> R {
        switch held {
        case .arriving: pending.withLock { body(&$0) }
        case .queued: queued.withLock { body(&$0) }
        }
    }

    /// Adds `delta` (negative: gives back) to the bytes of answers `uid` has not read, and returns
    /// the uid's new total. Nothing is refused here: the connection that took the uid past its limit
    /// is closed (``AnswerBacklog``).
    func addUnread(_ delta: Int, uid: UInt32?) -> Int {
        unread.withLock { unread in
            let total = unread[uid, default: 0] + delta
            unread[uid] = total == 0 ? nil : total
            return total
        }
    }

    /// The bytes of answers `uid` has not read now.
    func unreadBytes(uid: UInt32?) -> Int {
        unread.withLock { $0[uid, default: 0] }
    }

    /// The bytes of answers no uid has read yet (the metrics).
    func totalUnreadBytes() -> Int {
        unread.withLock { $0.values.reduce(0, +) }
    }

    /// How an accepted connection is served (``openConnection(uid:)``).
    enum ConnectionAdmission: Sendable {
        /// Within its uid's limit: served.
        case admitted
        /// Past it: each call that arrives on it is refused with `error`, and it is closed soon
        /// after. `warning`: the connections refused since the last warning, this one included,
        /// when one is due (at most one a minute, for all uids).
        case refused(DomainError, warning: Int?)
        /// Past it by more than ``explainedRefusals``: closed at once, unanswered.
        case dropped(warning: Int?)
    }

    /// Connections a uid may hold past its limit that are answered with the refusal before they
    /// close; any more are closed at once, so that refusing costs little memory as well.
    static let explainedRefusals = 64

    /// Counts a connection `uid` opened, whatever it is told (give it back with
    /// ``closeConnection(uid:)`` when it closes): every connection holds memory until it closes,
    /// about 25–30 KB even idle, and the file descriptors allow half a million of them.
    func openConnection(uid: UInt32?) -> ConnectionAdmission {
        let limit = limits.connections
        let count = connections.withLock { state in
            let count = state.open[uid, default: 0] + 1
            state.open[uid] = count
            state.total += 1
            if count > limit { state.refused += 1 }
            return count
        }
        if count <= limit { return .admitted }
        let warning = refusalWarnings.record()
        if count > limit + Self.explainedRefusals { return .dropped(warning: warning) }
        let who = uid.map { "uid \($0)" } ?? "this peer"
        return .refused(DomainError(.resourceExhausted, reason: .tooManyConnections,
                                    "\(who) already has \(limit) connections open to the daemon, the most one uid may; close some (one channel can carry every call of a process), or raise the daemon's --max-connections-per-peer"),
                        warning: warning)
    }

    /// A connection ``openConnection(uid:)`` counted has closed.
    func closeConnection(uid: UInt32?) {
        connections.withLock { state in
            let count = state.open[uid, default: 1] - 1
            state.open[uid] = count == 0 ? nil : count
            state.total -= 1
        }
    }

    /// The connections `uid` has open now, refused ones until they close included.
    func openConnections(uid: UInt32?) -> Int { connections.withLock { $0.open[uid, default: 0] } }

    /// The client connections open now, and the connections refused since the daemon started (the metrics).
    func connectionCounts() -> (open: Int, refused: Int) {
        connections.withLock { ($0.total, $0.refused) }
    }

    /// The counter of `uid`'s open calls, which its connections share (taken once per connection).
    func streams(of uid: UInt32?) -> PeerStreams {
        streams.withLock { streams in
            if let counter = streams[uid] { return counter }
            let counter = PeerStreams(uid: uid, limit: limits.streamsPerPeer)
            streams[uid] = counter
            return counter
        }
    }
}

/// One uid's open calls on all its connections. Every HTTP/2 stream holds memory until it ends
/// (about 300 bytes on the event loop's path, 20 KB with a child channel and a task), and a
/// connection may carry 17,664 of them: without a cap across connections, 70 connections of
/// streams that sent their headers and nothing more would have held 24 GB. Counted on each call's
/// open and end, without a lock.
final class PeerStreams: Sendable {
    let uid: UInt32?
    let limit: Int
    private let count = Atomic<Int>(0)

    init(uid: UInt32?, limit: Int) {
        self.uid = uid
        self.limit = limit
    }

    /// Counts one more open call: RESOURCE_EXHAUSTED, counting nothing, if the uid has its most.
    func open() throws(DomainError) {
        guard count.add(1, ordering: .relaxed).newValue > limit else { return }
        count.subtract(1, ordering: .relaxed)
        let who = uid.map { "uid \($0)" } ?? "this peer"
        throw DomainError(.resourceExhausted, reason: .tooManyOpenCalls,
                          "\(who) already has \(limit) calls open on its connections, the most one uid may (every wait and watch it may hold and 1,024 more); finish some first, or raise the daemon's --max-waits-per-peer")
    }

    /// A call ``open()`` counted has ended.
    func close() {
        count.subtract(1, ordering: .relaxed)
    }

    /// The uid's open calls now.
    var openCount: Int { count.load(ordering: .relaxed) }
}
