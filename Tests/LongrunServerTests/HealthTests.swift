import GRPCCore
import LongrunDomain
import LongrunEngine
import LongrunProto
@testable import LongrunServer
import LongrunTestSupport
import Synchronization
import Testing

/// The status logic alone: phases, conditions and their scope, change notification.
@Suite("Health: the status source")
struct HealthStatusSourceTests {
    static let services = ["acme.Writer", "acme.Reader"]

    @Test func notServingWhileStartingServingOnceServingAndDrainingIsFinal() {
        let source = HealthStatusSource(services: Self.services, conditions: [])
        for name in [""] + Self.services {
            #expect(source.status(of: name) == .notServing(reasons: ["starting"]))
        }
        source.advance(to: .serving)
        for name in [""] + Self.services { #expect(source.status(of: name) == .serving) }
        source.advance(to: .draining)
        source.advance(to: .serving)  // a late "serving" does not undo draining
        #expect(source.phase == .draining)
        for name in [""] + Self.services {
            #expect(source.status(of: name) == .notServing(reasons: ["draining: shutting down"]))
        }
    }

    @Test func anUnknownNameHasNoStatus() {
        let source = HealthStatusSource(services: Self.services, conditions: [])
        source.advance(to: .serving)
        #expect(source.status(of: "acme.Other") == nil)
        #expect(source.status(of: "acme") == nil)
    }

    @Test func aConditionMakesTheServicesItAffectsAndTheWholeServerNotServing() {
        let full = Mutex(false)
        let everything = Mutex(false)
        let source = HealthStatusSource(services: Self.services, conditions: [
            HealthCondition("full", affects: ["acme.Writer"]) { full.withLock { $0 } },
            HealthCondition("broken") { everything.withLock { $0 } },
        ])
        source.advance(to: .serving)
        full.withLock { $0 = true }
        #expect(source.status(of: "") == .notServing(reasons: ["full"]))
        #expect(source.status(of: "acme.Writer") == .notServing(reasons: ["full"]))
        #expect(source.status(of: "acme.Reader") == .serving)
        everything.withLock { $0 = true }
        #expect(source.status(of: "") == .notServing(reasons: ["full", "broken"]))
        #expect(source.status(of: "acme.Reader") == .notServing(reasons: ["broken"]))
        full.withLock { $0 = false }
        everything.withLock { $0 = false }
        for name in [""] + Self.services { #expect(source.status(of: name) == .serving) }
    }

    @Test func aConditionOfItsOwnNameLeavesTheWholeServerServing() {
        let damage = Mutex(true)
        let source = HealthStatusSource(services: Self.services + ["acme.integrity"], conditions: [
            HealthCondition("damage", affects: ["acme.integrity"], affectsWholeServer: false) { damage.withLock { $0 } },
        ])
        source.advance(to: .serving)
        #expect(source.status(of: "acme.integrity") == .notServing(reasons: ["damage"]))
        for name in [""] + Self.services { #expect(source.status(of: name) == .serving) }
        damage.withLock { $0 = false }
        #expect(source.status(of: "acme.integrity") == .serving)
    }

    @Test func aPhaseChangeWakesWatchersAtOnceAndTheyLeaveNothingBehind() async throws {
        let source = HealthStatusSource(services: Self.services, conditions: [])
        try await source.withChanges(polling: .seconds(3600)) { changes in
            var iterator = changes.makeAsyncIterator()
            #expect(await iterator.next() != nil)  // the current status, at once
            #expect(source.subscriberCount == 1)
            source.advance(to: .serving)
            // Without the push this would wait for the hour-long poll (and the test time out).
            #expect(await iterator.next() != nil)
            #expect(source.phase == .serving)
        }
        #expect(source.subscriberCount == 0)
    }

    @Test func pollingSeesAConditionChange() async throws {
        let flag = Mutex(false)
        let source = HealthStatusSource(services: [], conditions: [HealthCondition("flag") { flag.withLock { $0 } }])
        source.advance(to: .serving)
        let seen = try await source.withChanges(polling: .milliseconds(10)) { changes in
            var statuses: [ServingStatus] = []
            for await _ in changes {
                let status = source.status(of: "")!
                if statuses.last != status { statuses.append(status) }
                if statuses.count == 1 { flag.withLock { $0 = true } }
                if statuses.count == 2 { break }
            }
            return statuses
        }
        #expect(seen == [.serving, .notServing(reasons: ["flag"])])
    }
}

/// `grpc.health.v1.Health` on a real server.
@Suite("Health: the service")
struct HealthServiceTests {
    typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    static func request(_ service: String) -> Grpc_Health_V1_HealthCheckRequest {
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = service
        return request
    }

    @Test func everyServedNameIsServingAndAnUnknownOneIsNotFound() async throws {
        try await Harness.with { h in
            #expect(LongrunServer.servedServices.contains("google.longrunning.Operations"))
            #expect(LongrunServer.servedServices.contains("grpc.health.v1.Health"))
            #expect(LongrunServer.servedServices.contains("grpc.reflection.v1alpha.ServerReflection"))
            let names = [""] + LongrunServer.servedServices + [LongrunServer.integrityHealthName]
            for name in names {
                #expect(try await h.health.check(Self.request(name)).status == .serving, "\(name)")
            }
            await expectRPCError(.notFound, reason: "UNKNOWN_SERVICE") {
                _ = try await h.health.check(Self.request("acme.NotHere"))
            }
            let listed = try await h.health.list(.init())
            #expect(Set(listed.statuses.keys) == Set(names))
            #expect(listed.statuses.values.allSatisfy { $0.status == .serving })
        }
    }

    @Test func aFullStoreMakesTheWholeServerAndTheWritingServicesNotServing() async throws {
        try await Harness.with(configure: { configuration in
            configuration.maximumMapSize = 1 << 20
            configuration.snapshotEveryEvents = nil
            configuration.snapshotInterval = nil
        }) { h async throws in
            #expect(!h.engine.writesRefused)
            let bulk = Fixtures.payload("acme.Bulk", String(repeating: "x", count: 16 << 10))
            var refused = false
            for index in 0..<1000 {
                do {
                    _ = try await h.engine.create(CreateRequest(id: "bulk-\(index)", metadata: bulk), actor: Fixtures.producer)
                } catch {
                    refused = true
                    break
                }
            }
            #expect(refused)
            #expect(h.engine.writesRefused)
            #expect(try await h.health.check(Self.request("")).status == .notServing)
            for name in ["google.longrunning.Operations", "longrun.v1.Producers", "longrun.v1.Admin"] {
                #expect(try await h.health.check(Self.request(name)).status == .notServing, "\(name)")
            }
            // Reads keep working: the read-only services and the probes themselves still serve.
            for name in ["longrun.v1.History", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"] {
                #expect(try await h.health.check(Self.request(name)).status == .serving, "\(name)")
            }
        }
    }

    @Test func watchSendsTheStatusThenNotServingWhenDrainingAndEnds() async throws {
        try await Harness.with { h in
            let started = Mutex(false)
            let watched = Task {
                try await h.health.watch(Self.request("")) { response in
                    var statuses: [Status] = []
                    do {
                        for try await message in response.messages {
                            statuses.append(message.status)
                            started.withLock { $0 = true }
                        }
                        return (statuses, RPCError.Code?.none)
                    } catch let error as RPCError {
                        return (statuses, Optional(error.code))
                    }
                }
            }
            while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            h.server.health.advance(to: .draining)
            let (statuses, ending) = try await watched.value
            #expect(statuses == [.serving, .notServing])
            #expect(ending == .unavailable)
        }
    }

    @Test func watchOfAnUnknownNameSaysServiceUnknownAndStaysOpen() async throws {
        try await Harness.with { h in
            // Open: after SERVICE_UNKNOWN nothing arrives and only the client's deadline ends the call.
            var options = CallOptions.defaults
            options.timeout = .seconds(2)
            let received = Mutex<[Status]>([])
            var ending: RPCError.Code?
            do {
                try await h.health.watch(Self.request("acme.NotHere"), options: options) { response in
                    for try await message in response.messages { received.withLock { $0.append(message.status) } }
                }
            } catch let error as RPCError {
                ending = error.code
            }
            #expect(received.withLock { $0 } == [.serviceUnknown])
            #expect(ending == .deadlineExceeded)
            // The call is over: its subscription is gone too.
            let deadline = ContinuousClock.now + .seconds(5)
            while h.server.health.subscriberCount > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(h.server.health.subscriberCount == 0)
        }
    }
}
