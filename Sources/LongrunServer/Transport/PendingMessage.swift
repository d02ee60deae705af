import LongrunDomain
import NIOCore

/// A request message that arrives in pieces, held on its stream until its last piece: in a buffer
/// of its own, allocated once for the length its 5-byte prefix declares, and charged to the peer
/// (``PeerQuotas/chargePending(_:uid:)``) for as long as it is held. A message that comes whole in
/// one DATA frame (with the request's end, on the event loop's path) is never held, and costs
/// nothing here.
///
/// Both of the server's paths hold messages this way (``FastPathStreams``, ``GRPCStreamCodec``):
/// without the charge, a peer that opened streams and never finished their messages made the
/// daemon hold up to the request size limit on each of them. A class: a stream that never needs one
/// keeps only a reference's room for it. Used on the stream's event loop only.
final class PendingMessage {
    /// Where the bytes are charged; nil: nowhere (a server without quotas, the benchmarks' no-op one).
    let quotas: PeerQuotas?
    let uid: UInt32?
    /// The largest message accepted: no more is allocated whatever the prefix says.
    let maximumMessageBytes: Int
    /// What is charged now: the size the message's prefix announces (with the prefix), or the bytes
    /// held if more. Its buffer's capacity may be larger (a power of two), but only what is written
    /// to it takes memory.
    private(set) var charged = 0

    init(quotas: PeerQuotas?, uid: UInt32?, maximumMessageBytes: Int) {
        self.quotas = quotas
        self.uid = uid
        self.maximumMessageBytes = maximumMessageBytes
    }

    /// Holds `buffer` (the message's prefix and whatever followed it so far) until more arrives, or
    /// the end of the stream: given room for the whole message once its prefix is there, and, if
    /// `mayShareStorage` (a slice of the connection's read buffer, which it would keep alive), first
    /// copied into a buffer of its own. Throws RESOURCE_EXHAUSTED when the peer has no room left
    /// for it; then nothing is charged, and the caller ends the stream.
    func hold(_ buffer: inout ByteBuffer, mayShareStorage: Bool, allocator: ByteBufferAllocator) throws(DomainError) {
        let needed = max(buffer.readableBytes, Self.declaredBytes(buffer).map { min($0, 5 + maximumMessageBytes) } ?? 0)
        if charged == 0 && mayShareStorage {
            var owned = allocator.buffer(capacity: needed)
            owned.writeImmutableBuffer(buffer)
            buffer = owned
        } else if buffer.capacity < needed {
            buffer.reserveCapacity(needed)
        }
        guard needed > charged else { return }
        do {
            try quotas?.chargePending(needed - charged, uid: uid)
        } catch {
            release()
            throw error
        }
        charged = needed
    }

    /// The message is whole, or its stream ended: its bytes are no longer charged.
    func release() {
        quotas?.releasePending(charged, uid: uid)
        charged = 0
    }

    /// The prefix and the message its length announces, once the 5-byte prefix is there.
    static func declaredBytes(_ buffer: ByteBuffer) -> Int? {
        guard buffer.readableBytes >= 5, let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else { return nil }
        return 5 + Int(length)
    }
}
