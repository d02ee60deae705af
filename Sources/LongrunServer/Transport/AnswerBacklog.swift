import Logging
import NIOHTTP2

/// The answers one connection has written that its peer has not let out yet: DATA frames handed to
/// `NIOHTTP2Handler` and held there until the peer's flow-control windows let them through. A peer
/// that asks and never reads (a stopped process, or one that means harm) had the daemon hold every
/// answer on every stream it opened: 3,000 GetOperation calls for a 1 MB operation, nothing read,
/// took the daemon from 6 MB to 2.9 GB. What is held is charged to the peer's uid
/// (``PeerQuotas/addUnread(_:uid:)``); ``ConnectionLifecycle`` closes the connection that takes the
/// uid past its limit, which drops its answers.
///
/// Counted by stream: a stream reset with answers still held has them dropped by `NIOHTTP2Handler`.
/// Most answers go out at the flush that follows them, so the stream written last is kept apart
/// from the others: it costs no hashing. Runs on the connection's event loop.
struct AnswerBacklog {
    private let quotas: PeerQuotas
    private let uid: UInt32?
    /// DATA bytes handed to `NIOHTTP2Handler` and not yet written out: of one stream here...
    private var slot: (stream: HTTP2StreamID, bytes: Int)?
    /// ...and of the others here.
    private var others: [HTTP2StreamID: Int] = [:]
    /// Their sum.
    private(set) var total = 0
    /// What the uid is charged for this connection.
    private var charged = 0

    init(quotas: PeerQuotas, uid: UInt32?) {
        self.quotas = quotas
        self.uid = uid
    }

    /// A DATA frame of `bytes` was handed on for `stream`.
    mutating func handed(_ bytes: Int, on stream: HTTP2StreamID) {
        guard bytes > 0 else { return }
        total += bytes
        if let held = slot {
            if held.stream == stream {
                slot = (stream, held.bytes + bytes)
            } else {
                others[stream, default: 0] += bytes
            }
        } else {
            slot = (stream, bytes)
        }
    }

    /// `NIOHTTP2Handler` wrote a DATA frame of `bytes` of `stream` out (all or part of one handed on).
    mutating func wrote(_ bytes: Int, on stream: HTTP2StreamID) {
        guard bytes > 0, total > 0 else { return }
        total -= take(upTo: bytes, of: stream)
        if charged > total { settle() }
    }

    /// The stream closed: whatever of it was still held is dropped.
    mutating func closed(_ stream: HTTP2StreamID) {
        guard total > 0 else { return }
        total -= take(upTo: .max, of: stream)
        if charged > total { settle() }
    }

    /// Removes up to `bytes` of what `stream` holds; returns how many.
    private mutating func take(upTo bytes: Int, of stream: HTTP2StreamID) -> Int {
        if let held = slot, held.stream == stream {
            let taken = min(bytes, held.bytes)
            slot = held.bytes == taken ? nil : (stream, held.bytes - taken)
            return taken
        }
        guard let held = others[stream] else { return 0 }
        let taken = min(bytes, held)
        others[stream] = held == taken ? nil : held - taken
        return taken
    }

    /// The most bytes of answers one uid may leave unread.
    var limit: Int { quotas.limits.bufferedBytes }

    /// Charges the uid for what is held now, or gives back what is no longer. Returns the uid's
    /// answers not read if that is now past ``limit``, else nil.
    @discardableResult
    mutating func settle() -> Int? {
        guard total != charged else { return nil }
        let uidTotal = quotas.addUnread(total - charged, uid: uid)
        charged = total
        return uidTotal > limit ? uidTotal : nil
    }

    /// The connection closed: nothing of it is held any more.
    mutating func releaseAll() {
        slot = nil
        others = [:]
        total = 0
        settle()
    }
}

extension Logger {
    /// Says why a connection is closed when its uid's answers not read passed the limit (both the
    /// gRPC socket's connections and the HTTP gateway's).
    func closingForUnreadAnswers(peer: PeerCredentials?, connectionBytes: Int, uidBytes: Int, limit: Int) {
        warning("closing a connection whose peer does not read its answers", metadata: [
            "peer": "\(peer.map(String.init(describing:)) ?? "unknown")", "connection_unread_bytes": "\(connectionBytes)",
            "uid_unread_bytes": "\(uidBytes)", "limit_bytes": "\(limit)", "limit": "--max-buffered-bytes-per-peer",
        ])
    }
}
