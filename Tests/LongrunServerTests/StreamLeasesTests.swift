import LongrunDomain
import LongrunEngine
@testable import LongrunServer
import LongrunTestSupport
import Testing

@Suite("Server: a stream's lease renewals")
struct StreamLeasesTests {
    @Test func aLeaseIsDueAtAThirdOfItsTTLAndLeavesTheSetWhenDone() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let clock = ManualMonotonicClock()
            let leases = StreamLeases(clock: clock)
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(3)), actor: Fixtures.producer)
            leases.track(leased)
            leases.track(try await engine.create(CreateRequest(id: "plain"), actor: Fixtures.producer))
            #expect(leases.pollInterval == .milliseconds(500))
            clock.advance(by: .milliseconds(999))
            #expect(leases.due().isEmpty)
            clock.advance(by: .milliseconds(1))
            #expect(leases.due() == [leased.name])
            leases.track(try await engine.complete(leased.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer))
            #expect(leases.due().isEmpty)
            #expect(leases.pollInterval == .seconds(1))
        }
    }

    @Test func theLoopRenewsWhatIsDueOnlyOnceItsClockMoves() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let clock = ManualMonotonicClock()
            let leases = StreamLeases(clock: clock)
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(3)), actor: Fixtures.producer)
            leases.track(leased)
            let loop = Task { await leases.renew(engine: engine, actor: Fixtures.producer, access: .unrestricted, logger: Fixtures.quietLogger) }
            defer { loop.cancel() }
            func renewals() async throws -> Int {
                try await engine.history(of: leased.name, pageSize: 10).events.count { $0.kind == .leaseRenewed }
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await renewals() == 0)
            // Past a third of the TTL, in steps, since the loop may not be asleep yet at the first.
            for _ in 0..<200 where try await renewals() == 0 {
                clock.advance(by: .milliseconds(500))
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await renewals() >= 1)
            #expect(try await engine.get(leased.name).version == leased.version)
        }
    }
}
