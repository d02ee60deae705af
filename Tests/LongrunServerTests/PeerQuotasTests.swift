import LongrunDomain
@testable import LongrunServer
import Testing

/// What one uid may hold at once, whatever connections it spreads it over.
@Suite struct PeerQuotasTests {
    let quotas = PeerQuotas(limits: .init(waits: 2, watches: 1, bufferedBytes: 1_000, streams: 3))

    @Test func openCallsAreCountedPerUidOverAllItsConnections() throws {
        // Each connection takes its uid's counter; two of the same uid share it.
        let first = quotas.streams(of: 7)
        let second = quotas.streams(of: 7)
        try first.open()
        try second.open()
        try first.open()
        let refused = #expect(throws: DomainError.self) { try second.open() }
        #expect(refused?.reason == .tooManyOpenCalls)
        #expect(refused?.kind == .resourceExhausted)
        #expect(first.openCount == 3)
        // Another uid is not affected.
        try quotas.streams(of: 8).open()
        first.close()
        try second.open()
        #expect(second.openCount == 3)
    }

    /// Connections are counted per uid, those refused included until they close: up to the limit
    /// served; past it refused with a reason, a warning due once a minute; past the refusals it
    /// explains, closed unanswered.
    @Test func connectionsPastAUidsLimitAreRefusedThenDropped() {
        let quotas = PeerQuotas(limits: .init(waits: 1, watches: 1, bufferedBytes: 1_000, connections: 2))
        for _ in 0..<2 { guard case .admitted = quotas.openConnection(uid: 7) else { Issue.record("not admitted"); return } }
        guard case .refused(let error, let warning) = quotas.openConnection(uid: 7) else { Issue.record("not refused"); return }
        #expect(error.reason == .tooManyConnections)
        #expect(error.kind == .resourceExhausted)
        #expect(error.message.contains("--max-connections-per-peer"))
        #expect(warning == 1)
        guard case .refused(_, nil) = quotas.openConnection(uid: 7) else { Issue.record("warned again within a minute"); return }
        for _ in 2..<PeerQuotas.explainedRefusals { _ = quotas.openConnection(uid: 7) }
        guard case .dropped = quotas.openConnection(uid: 7) else { Issue.record("not dropped"); return }
        // Another uid is not affected.
        guard case .admitted = quotas.openConnection(uid: 8) else { Issue.record("uid 8 not admitted"); return }
        let counts = quotas.connectionCounts()
        #expect(counts.open == 2 + PeerQuotas.explainedRefusals + 1 + 1)
        #expect(counts.refused == PeerQuotas.explainedRefusals + 1)
        for _ in 0..<(PeerQuotas.explainedRefusals + 2) { quotas.closeConnection(uid: 7) }
        #expect(quotas.openConnections(uid: 7) == 1)
        guard case .admitted = quotas.openConnection(uid: 7) else { Issue.record("not admitted after closes"); return }
    }

    @Test func oneConnectionCarriesWhatOneUidMayHold() {
        let defaults = PeerQuotas(limits: .init(waits: 16_384, watches: 256, bufferedBytes: 1 << 20))
        #expect(defaults.limits.streamsPerPeer == 17_664)
    }

    @Test func requestBytesArrivingAreChargedUpToTheLimitAndGivenBack() throws {
        try quotas.chargePending(600, uid: 7)
        #expect(throws: DomainError.self) { try quotas.chargePending(401, uid: 7) }
        try quotas.chargePending(400, uid: 7)
        try quotas.chargePending(1_000, uid: 8)
        quotas.releasePending(600, uid: 7)
        #expect(quotas.pendingBytes(uid: 7) == 400)
        #expect(quotas.totalPendingBytes() == 1_400)
    }

    /// Writes waiting for their commits are counted apart from the messages arriving, against the
    /// same limit: a uid whose arriving messages take it all may still have its writes queued.
    @Test func writesWaitingForTheirCommitsAreChargedApartFromMessagesArriving() throws {
        try quotas.chargePending(1_000, uid: 7)
        try quotas.chargeQueued(1_000, uid: 7)
        let error = #expect(throws: DomainError.self) { try quotas.chargeQueued(1, uid: 7) }
        #expect(error?.reason == .tooManyPendingBytes)
        #expect(error?.message.contains("waiting for their commits") == true)
        quotas.releaseQueued(400, uid: 7)
        try quotas.chargeQueued(400, uid: 7)
        #expect(quotas.queuedBytes(uid: 7) == 1_000)
        #expect(quotas.pendingBytes(uid: 7) == 1_000)
        quotas.releaseQueued(1_000, uid: 7)
        #expect(quotas.totalQueuedBytes() == 0)
    }
}
