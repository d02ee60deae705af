import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import LongrunEngine
import LongrunProto
@testable import LongrunServer
import LongrunStore
import LongrunTestSupport
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import Testing

/// The server's own transport: what it refuses, and with which status, for calls that go through
/// grpc-swift's router; and how it ends when the daemon shuts down with calls open.
@Suite struct UnixServerTransportTests {
    @Test(arguments: [true, false])
    func aRequestOverTheSizeLimitIsRefusedResourceExhaustedAndTheConnectionGoesOn(answersOnEventLoop: Bool) async throws {
        try await Harness.with(server: { $0.maximumRequestBytes = 64; $0.answersOnEventLoop = answersOnEventLoop }) { h in
            // ListOperations always goes through grpc-swift's router; GetOperation does too when
            // the fast path is off.
            await expectRPCError(.resourceExhausted) {
                _ = try await h.operations.listOperations(.with { $0.name = "operations"; $0.filter = String(repeating: "a", count: 100) })
            }
            await expectRPCError(.resourceExhausted) {
                _ = try await h.operations.getOperation(.with { $0.name = "operations/" + String(repeating: "a", count: 100) })
            }
            _ = try await h.create(id: "small")
            #expect(try await h.operations.listOperations(.with { $0.name = "operations" }).operations.map(\.name) == ["operations/small"])
        }
    }

    /// A request message that arrives in pieces is charged to its uid while it arrives, on both
    /// paths: one announcing more than the uid may have arriving is refused before it is read,
    /// and a smaller one's charge is given back once it is whole.
    @Test(arguments: [true, false])
    func aMessageArrivingInPiecesIsChargedToItsUidUntilItIsWhole(answersOnEventLoop: Bool) async throws {
        try await Harness.with(server: { $0.maximumBufferedBytesPerPeer = 256 << 10; $0.answersOnEventLoop = answersOnEventLoop }) { h in
            func metadata(_ size: Int) -> Google_Protobuf_Any {
                any(Google_Protobuf_BytesValue.with { $0.value = Data(repeating: 7, count: size) })
            }
            await expectRPCError(.resourceExhausted, reason: "TOO_MANY_PENDING_BYTES") {
                _ = try await h.producers.createOperation(.with { $0.operationID = "over"; $0.metadata = metadata(300_000) })
            }
            for id in ["under-1", "under-2"] {
                let created = try await h.producers.createOperation(.with { $0.operationID = id; $0.metadata = metadata(200_000) })
                #expect(created.name == "operations/\(id)")
                #expect(h.server.quotas.pendingBytes(uid: getuid()) == 0)
            }
            await expectRPCError(.notFound) {
                _ = try await h.operations.getOperation(.with { $0.name = "operations/over" })
            }
        }
    }

    /// A write is charged to its uid, at its request's size, until its commit answers it, apart from
    /// the messages it has arriving, on both paths and on a producer stream: with the uid's room
    /// for writes waiting otherwise taken (as by writes queued behind a slow disk), one more is
    /// refused and nothing of it is applied (on a stream, that transition alone); with room, it is
    /// applied and its charge given back.
    @Test(arguments: [true, false])
    func aWriteIsChargedToItsUidUntilItsCommitAnswersIt(answersOnEventLoop: Bool) async throws {
        try await Harness.with(server: { $0.maximumBufferedBytesPerPeer = 256 << 10; $0.answersOnEventLoop = answersOnEventLoop }) { h in
            let taken = (256 << 10) - 5_000
            try h.server.quotas.chargeQueued(taken, uid: getuid())
            let metadata = any(Google_Protobuf_BytesValue.with { $0.value = Data(repeating: 7, count: 6_000) })
            await expectRPCError(.resourceExhausted, reason: "TOO_MANY_PENDING_BYTES") {
                _ = try await h.producers.createOperation(.with { $0.operationID = "refused"; $0.metadata = metadata })
            }
            let answers = try await h.producers.streamTransitions(requestProducer: { writer in
                try await writer.write(.with { $0.tag = 1; $0.create = .with { $0.operationID = "refused"; $0.metadata = metadata } })
                try await writer.write(.with { $0.tag = 2; $0.create = .with { $0.operationID = "small" } })
            }) { response in
                var answers: [UInt64: Int32] = [:]
                for try await message in response.messages { answers[message.tag] = message.error.code }
                return answers
            }
            #expect(answers == [1: Int32(RPCError.Code.resourceExhausted.rawValue), 2: 0])
            await expectRPCError(.notFound) {
                _ = try await h.operations.getOperation(.with { $0.name = "operations/refused" })
            }
            h.server.quotas.releaseQueued(taken, uid: getuid())
            _ = try await h.producers.createOperation(.with { $0.operationID = "applied"; $0.metadata = metadata })
            _ = try await h.producers.updateOperation(.with { $0.name = "operations/applied"; $0.metadata = metadata })
            #expect(h.server.quotas.queuedBytes(uid: getuid()) == 0)
        }
    }

    /// On a stream that stays open (a producer's StreamTransitions), a large message's charge is
    /// given back as soon as it is whole, not when the stream ends.
    @Test func aMessageWholeOnAStreamThatStaysOpenIsNoLongerCharged() async throws {
        try await Harness.with(server: { $0.maximumBufferedBytesPerPeer = 256 << 10 }) { h in
            let (answered, signal) = AsyncStream.makeStream(of: Void.self)
            let chargedWhileOpen = Mutex<Int?>(nil)
            let tags = try await h.producers.streamTransitions(requestProducer: { writer in
                try await writer.write(.with {
                    $0.tag = 1
                    $0.create = .with {
                        $0.operationID = "large"
                        $0.metadata = any(Google_Protobuf_BytesValue.with { $0.value = Data(repeating: 7, count: 200_000) })
                    }
                })
                for await _ in answered { break }
                chargedWhileOpen.withLock { $0 = h.server.quotas.pendingBytes(uid: getuid()) }
                try await writer.write(.with { $0.tag = 2; $0.create = .with { $0.operationID = "small" } })
            }) { response in
                var tags: [UInt64] = []
                for try await message in response.messages {
                    tags.append(message.tag)
                    signal.yield()
                }
                return tags
            }
            #expect(tags == [1, 2])
            #expect(chargedWhileOpen.withLock { $0 } == 0)
        }
    }

    /// A uid may hold `maximumConnectionsPerPeer` connections: past them, each call on a new
    /// connection is refused RESOURCE_EXHAUSTED (TOO_MANY_CONNECTIONS), whatever its method, and
    /// nothing of it is applied, while the uid's other connections go on; once one of those
    /// closes, a new connection is served.
    @Test func callsOnAConnectionPastItsUidsLimitAreRefused() async throws {
        let metrics = LongrunMetrics()
        try await Harness.with(server: { $0.maximumConnectionsPerPeer = 2; $0.metrics = metrics }) { h in
            // The harness's client holds the first connection.
            try await withClient(of: h.socketPath) { second in
                _ = try await Longrun_V1_Admin.Client(wrapping: second).getServerInfo(.init())
                try await withClient(of: h.socketPath) { third in
                    await expectRPCError(.resourceExhausted, reason: "TOO_MANY_CONNECTIONS") {
                        _ = try await Longrun_V1_Producers.Client(wrapping: third).createOperation(.with { $0.operationID = "refused" })
                    }
                    await expectRPCError(.resourceExhausted, reason: "TOO_MANY_CONNECTIONS") {
                        _ = try await Grpc_Health_V1_Health.Client(wrapping: third).check(.init())
                    }
                }
                await expectRPCError(.notFound) {
                    _ = try await h.operations.getOperation(.with { $0.name = "operations/refused" })
                }
                _ = try await Longrun_V1_Admin.Client(wrapping: second).getServerInfo(.init())
                let scraped = Exposition(metrics.expositionText())
                #expect((scraped.value("longrun_connections_refused_total") ?? 0) >= 1)
                #expect((scraped.value("longrun_client_connections") ?? 0) >= 2)
            }
            // The daemon sees the second connection's end a moment after it closes.
            let deadline = ContinuousClock.now + .seconds(10)
            while h.server.quotas.openConnections(uid: getuid()) > 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await withClient(of: h.socketPath) { another in
                _ = try await Longrun_V1_Producers.Client(wrapping: another).createOperation(.with { $0.operationID = "served" })
            }
        }
    }

    private func withClient(of socketPath: String, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void) async throws {
        let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { try await body($0) }
    }

    @Test func aCompressedRequestIsRefusedUnimplementedNamingTheEncodingServed() async throws {
        try await Harness.with { h in
            _ = try await h.create(id: "kept")
            var config = HTTP2ClientTransport.Posix.Config.defaults
            config.compression = .init(algorithm: .gzip, enabledAlgorithms: .all)
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: h.socketPath), transportSecurity: .plaintext, config: config)
            try await withGRPCClient(transport: transport) { client in
                let operations = Google_Longrunning_Operations.Client(wrapping: client)
                await expectRPCError(.unimplemented) {
                    _ = try await operations.getOperation(.with { $0.name = "operations/kept" })
                }
                await expectRPCError(.unimplemented) {
                    _ = try await operations.listOperations(.with { $0.name = "operations" })
                }
                // Uncompressed calls on the same connection are served.
                var options = CallOptions.defaults
                options.compression = CompressionAlgorithm.none
                let kept = try await operations.getOperation(.with { $0.name = "operations/kept" }, options: options)
                #expect(kept.name == "operations/kept")
            }
        }
    }

    @Test func aMethodTheServerDoesNotServeIsUnimplemented() async throws {
        try await Harness.with { h in
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: h.socketPath), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in
                let missing = MethodDescriptor(fullyQualifiedService: "longrun.v1.Nowhere", method: "Nothing")
                await expectRPCError(.unimplemented) {
                    _ = try await client.unary(
                        request: ClientRequest(message: Google_Protobuf_Empty()), descriptor: missing,
                        serializer: ProtobufSerializer<Google_Protobuf_Empty>(), deserializer: ProtobufDeserializer<Google_Protobuf_Empty>(),
                        options: .defaults
                    ) { response -> Google_Protobuf_Empty in try response.message }
                }
            }
            // The server goes on serving.
            _ = try await h.admin.getServerInfo(.init())
        }
    }

    /// A call served through grpc-swift's router ends when its client resets the stream: the
    /// handler's task is cancelled and gives back what it held (here the uid's watch slot).
    @Test func aWatchWhoseClientResetsTheStreamGivesBackItsSlot() async throws {
        try await Harness.with(server: { $0.maximumWatchesPerPeer = 1 }) { h in
            _ = try await h.create(id: "first")
            let history = h.history
            let started = Mutex(false)
            let abandoned = Task {
                try await history.watchOperations(.with { $0.name = "operations" }) { response in
                    for try await _ in response.messages { started.withLock { $0 = true } }
                }
            }
            while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            #expect(h.server.quotas.totalOpen(.watch) == 1)
            abandoned.cancel()  // the client resets the stream
            _ = await abandoned.result
            try await UnaryFastPathTests.until { h.server.quotas.totalOpen(.watch) == 0 }
            // The slot is free: a second watch is served and sees the operation.
            let names: [String] = try await history.watchOperations(.with { $0.name = "operations" }) { response in
                for try await event in response.messages { return [event.name] }
                return []
            }
            #expect(names == ["operations/first"])
        }
    }

    /// A watch is a call that never ends by itself: graceful shutdown must still end it, close the
    /// connection and let the server's run return.
    @Test func gracefulShutdownEndsAnOpenWatchAndTheServerStops() async throws {
        let directory = TemporaryDirectory(prefix: "longrun-transport")
        defer { directory.remove() }
        let engine = try Fixtures.openEngine(directory.child("data"))
        defer { engine.close() }
        let socketPath = directory.child("longrund.sock")
        let server = try LongrunServer(engine: engine, configuration: .init(socketPath: socketPath), logger: Fixtures.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: Fixtures.quietLogger))
        let serving = Task { try await group.run() }
        let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        let ending: RPCError.Code? = try await withGRPCClient(transport: transport) { client in
            let watching = Mutex(false)
            let history = Longrun_V1_History.Client(wrapping: client)
            let producers = Longrun_V1_Producers.Client(wrapping: client)
            _ = try await producers.createOperation(.with { $0.parent = ""; $0.operationID = "first" })
            let watch = Task {
                do {
                    try await history.watchOperations(.with { $0.name = "operations" }) { response in
                        for try await _ in response.messages { watching.withLock { $0 = true } }
                    }
                    return RPCError.Code?.none
                } catch let error as RPCError {
                    return error.code
                }
            }
            while !watching.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            await group.triggerGracefulShutdown()
            return try await watch.value
        }
        try await serving.value
        #expect(ending == nil || ending == .unavailable, "the watch ended with \(String(describing: ending))")
        #expect(!UnixListener.isLive(socketPath))
    }
}
