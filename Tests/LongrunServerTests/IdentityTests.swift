import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunProto
@testable import LongrunServer
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The caller's identity comes from the socket (SO_PEERCRED), never from what it sends. Tests with
/// a second uid, which need real processes under another user, are in Tests/interop/test_identity.py.
@Suite("Peer identity")
struct IdentityTests {
    @Test func eventsCarryTheKernelsUIDAndPIDAndAForgedPeerHeaderChangesNothing() async throws {
        try await Harness.with { h in
            var forged: Metadata = [:]
            forged.addString("uid=4242;gid=4242;pid=1;admin=0", forKey: PeerIdentity.metadataKey)
            forged.addString("ci-bot", forKey: "longrun-actor")
            let op = try await h.producers.createOperation(.with { $0.operationID = "who" }, metadata: forged)
            let events = try await h.history.listOperationEvents(.with { $0.name = op.name }).events
            #expect(events.count == 1)
            #expect(events.first?.actor.uid == getuid())
            #expect(events.first?.actor.pid == getpid())
            #expect(events.first?.actor.label == "ci-bot")
            // The forged header claimed a non-admin uid; this process (root or the daemon's own
            // user, both admins) still may act on every operation.
            _ = try await h.operations.deleteOperation(.with { $0.name = op.name }, metadata: forged)
        }
    }

    @Test func thePeerHeaderRoundTripsAndRejectsGarbage() {
        let peer = PeerCredentials(uid: 1000, gid: 100, pid: 4321, isAdmin: false)
        #expect(PeerIdentity.decode(PeerIdentity.encode(peer)) == peer)
        for garbage in ["", "uid=1", "uid=x;gid=1;pid=1;admin=0", "uid=1;gid=1;pid=1", "nonsense", "uid=-1;gid=1;pid=1;admin=0",
                        "uid=1;gid=1;pid=1;admin=2", "uid=1;gid=1;pid=1;admin=0;", "uid=4294967296;gid=1;pid=1;admin=0",
                        "gid=1;uid=1;pid=1;admin=0", "uid=1;gid=1;pid=2147483648;admin=0"] {
            #expect(PeerIdentity.decode(garbage) == nil, "decoded \(garbage)")
        }
    }

    @Test func waitsBeyondThePerUIDLimitAreResourceExhaustedAndFreedOnReturn() async throws {
        try await Harness.with(server: { $0.maximumWaitsPerPeer = 1 }) { h in
            let op = try await h.create()
            let operations = h.operations
            let holding = Task {
                try await operations.waitOperation(.with {
                    $0.name = op.name
                    $0.timeout = .init(seconds: 30)
                })
            }
            // The first wait holds the only slot until the operation completes.
            for _ in 0..<2000 where h.server.quotas.openCount(.wait, uid: getuid()) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(h.server.quotas.openCount(.wait, uid: getuid()) == 1)
            await expectRPCError(.resourceExhausted, reason: "TOO_MANY_OPEN_CALLS") {
                _ = try await h.operations.waitOperation(.with {
                    $0.name = op.name
                    $0.timeout = .init(seconds: 1)
                })
            }
            _ = try await h.complete(op.name, response: any(Google_Protobuf_StringValue("done")))
            #expect(try await holding.value.done)
            // The slot is free again.
            let again = try await h.operations.waitOperation(.with {
                $0.name = op.name
                $0.timeout = .init(seconds: 1)
            })
            #expect(again.done)
        }
    }
}
