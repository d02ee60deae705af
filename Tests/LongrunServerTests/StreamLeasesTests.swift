import LongrunDomain
import LongrunEngine
@testable import LongrunServer
import LongrunTestSupport
import Testing

@Suite("Server: a stream's lease renewals")
struct StreamLeasesTests {
    /// An engine in a temporary directory and a stream's leases on a clock the test moves.
    func withLeases(_ body: (LongrunEngine, ManualMonotonicClock, StreamLeases<ManualMonotonicClock>) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let engine = try Fixtures.openEngine(directory.path)
            defer { engine.close() }
            let clock = ManualMonotonicClock()
            try await body(engine, clock, StreamLeases(clock: clock))
        }
    }

    @Test func aLeaseIsDueAtAThirdOfItsTTLAndLeavesTheSetWhenDone() async throws {
        try await withLeases { engine, clock, leases in
            let leased = try await engine.create(CreateRequest(id: "leased", leaseTTL: .seconds(3)), actor: Fixtures.producer)
            leases.track(leased)
            leases.track(try await engine.create(CreateRequest(id: "plain"), actor: Fixtures.producer))
            clock.advance(by: .milliseconds(999))
            #expect(leases.due().isEmpty)
            clock.advance(by: .milliseconds(1))
            #expect(leases.due() == [leased.name])
            leases.track(try await engine.complete(leased.name, outcome: .response(Fixtures.payload("R")), actor: Fixtures.producer))
            #expect(leases.due().isEmpty)
        }
    }

    @Test func aShortLeaseTrackedWhileTheLoopSleepsIsRenewedBeforeItRunsOut() async throws {
        try await withLeases { engine, clock, leases in
            // The loop starts with nothing to renew, as a stream's does, and goes to sleep.
            let loop = Task { await leases.renew(engine: engine, actor: Fixtures.producer, access: .unrestricted, logger: Fixtures.quietLogger) }
            defer { loop.cancel() }
            try await Task.sleep(for: .milliseconds(100))
            let leased = try await engine.create(CreateRequest(id: "short", leaseTTL: Limits.leaseTTLRange.lowerBound), actor: Fixtures.producer)
            leases.track(leased)
            func renewals() async throws -> Int {
                try await engine.history(of: leased.name, pageSize: 10).events.count { $0.kind == .leaseRenewed }
            }
            // Up to 90% of the TTL, in steps: a renewal must come before the lease would run out.
            var advanced = Duration.zero
            while try await renewals() == 0, advanced < Limits.leaseTTLRange.lowerBound * 0.9 {
                clock.advance(by: .milliseconds(50))
                advanced += .milliseconds(50)
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await renewals() >= 1, "no renewal within \(advanced) of a \(Limits.leaseTTLRange.lowerBound) lease")
        }
    }

    @Test func theLoopRenewsWhatIsDueOnlyOnceItsClockMoves() async throws {
        try await withLeases { engine, clock, leases in
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
