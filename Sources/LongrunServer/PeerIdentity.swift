import LongrunDomain
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is on the other end of a connection, as the kernel reports it (`SO_PEERCRED`): the
/// process that connected, not anything the client says about itself.
public struct PeerCredentials: Hashable, Sendable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    /// Root, the daemon's own uid, or a member of the admin group: may act on every operation.
    public var isAdmin: Bool

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)\(isAdmin ? " admin" : "")" }
}

/// Who may do what on this daemon, applied to the credentials of each connection.
public struct AccessPolicy: Sendable {
    /// Members of this group (primary or supplementary) may act on every operation, like root.
    public var adminGroup: UInt32?
    /// Callers read only the operations their uid created (admins read everything).
    public var ownerOnly: Bool

    public init(adminGroup: UInt32? = nil, ownerOnly: Bool = false) {
        self.adminGroup = adminGroup
        self.ownerOnly = ownerOnly
    }

    func access(for peer: PeerCredentials) -> Access {
        peer.isAdmin ? .unrestricted : .owner(uid: peer.uid, readsOwnOnly: ownerOnly)
    }

    /// Root and the daemon's own uid (which owns the data files anyway) are admins; so is every
    /// member of the admin group, by the group database at connection time.
    func isAdmin(uid: UInt32, gid: UInt32) -> Bool {
        if uid == 0 || uid == getuid() { return true }
        guard let adminGroup else { return false }
        if gid == adminGroup { return true }
        return Self.supplementaryGroups(of: uid, primary: gid).contains(adminGroup)
    }

    private static func supplementaryGroups(of uid: UInt32, primary: UInt32) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }
}

/// Carries each connection's credentials from the socket to the RPC handlers.
///
/// On accept, ``UnixServerTransport`` reads the connection's `SO_PEERCRED` once (with the admin
/// check, which may consult the group database); on each HTTP/2 stream served through grpc-swift's
/// router, ``StreamEntry`` removes any `longrun-peer` header the client sent and adds the kernel's
/// answer, which ``CallContext`` reads; ``FastPathStreams`` gives the calls it takes the
/// connection's credentials themselves. A client therefore cannot forge them.
enum PeerIdentity {
    static let metadataKey = "longrun-peer"

    /// The credentials of an accepted Unix-socket connection, with the admin check (which may
    /// consult the group database) done once; nil if the kernel would not say. Call on the
    /// channel's event loop. Both transports read their peers here, gRPC and the HTTP gateway.
    static func credentials(of channel: any Channel, policy: AccessPolicy) -> PeerCredentials? {
        readCredentials(channel).map { raw in
            PeerCredentials(uid: raw.uid, gid: raw.gid, pid: raw.pid, isAdmin: policy.isAdmin(uid: raw.uid, gid: raw.gid))
        }
    }

    static func encode(_ peer: PeerCredentials) -> String {
        "uid=\(peer.uid);gid=\(peer.gid);pid=\(peer.pid);admin=\(peer.isAdmin ? 1 : 0)"
    }

    /// Parses what ``encode(_:)`` wrote, fields in that order; nil for anything else. Runs once per
    /// call, so it scans bytes rather than splitting strings.
    static func decode(_ text: String) -> PeerCredentials? {
        var utf8 = text.utf8[...]
        func field(_ key: StaticString, last: Bool = false) -> UInt64? {
            let name = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
            guard utf8.starts(with: name) else { return nil }
            utf8 = utf8.dropFirst(name.count)
            var value: UInt64 = 0
            var digits = 0
            while let byte = utf8.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 10 {
                value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
                digits += 1
                utf8 = utf8.dropFirst()
            }
            guard digits > 0 else { return nil }
            if last { return utf8.isEmpty ? value : nil }
            guard utf8.first == UInt8(ascii: ";") else { return nil }
            utf8 = utf8.dropFirst()
            return value
        }
        guard let uid = field("uid=").flatMap(UInt32.init(exactly:)), let gid = field("gid=").flatMap(UInt32.init(exactly:)),
              let pid = field("pid=").flatMap(Int32.init(exactly:)), let admin = field("admin=", last: true), admin <= 1
        else { return nil }
        return PeerCredentials(uid: uid, gid: gid, pid: pid, isAdmin: admin == 1)
    }

    /// Linux's `struct ucred` (pid, uid, gid), which Glibc exports only under `_GNU_SOURCE`.
    private struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private static func readCredentials(_ channel: any Channel) -> UCred? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // Called on the channel's event loop, where the option is read synchronously: the future is
        // already fulfilled and the callback runs at once.
        var credentials: UCred?
        future.assumeIsolated().whenSuccess { credentials = $0 }
        return credentials
    }
}
