import LongrunDomain
import LongrunStore
import Testing

/// The engine deadline an operation's state puts in the index, shared by both backends.
@Suite("IndexFacts: engine deadline")
struct IndexFactsTests {
    static let name = try! OperationName(parsing: "operations/x")
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let actor = Actor(uid: 1, pid: 2)

    func state(_ kinds: [Event.Kind]) -> OperationState? {
        var state: OperationState?
        for (index, kind) in kinds.enumerated() {
            state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Self.t0 + .seconds(index), name: Self.name, actor: Self.actor, kind: kind))
        }
        return state
    }

    @Test func theDeadlineIsTheLeaseTheGraceOrTheEarlierOfBoth() {
        let leased = Event.Kind.created(.init(leaseTTL: .seconds(10)))
        #expect(IndexFacts(state([.created(.init())])).engineDeadline == nil)
        #expect(IndexFacts(state([leased])).engineDeadline == Self.t0 + .seconds(10))
        #expect(IndexFacts(state([leased, .leaseRenewed])).engineDeadline == Self.t0 + .seconds(11))
        #expect(IndexFacts(state([leased, .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(4))])).engineDeadline == Self.t0 + .seconds(4))
        #expect(IndexFacts(state([leased, .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(40))])).engineDeadline == Self.t0 + .seconds(10))
        #expect(IndexFacts(state([.created(.init()), .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(40))])).engineDeadline == Self.t0 + .seconds(40))
    }

    @Test func doneOrDeletedOperationsHaveNoDeadline() {
        let leased = Event.Kind.created(.init(leaseTTL: .seconds(10)))
        #expect(IndexFacts(state([leased, .completed(.error(Status(.aborted, "x")))])).engineDeadline == nil)
        #expect(IndexFacts(state([leased, .deleted])).engineDeadline == nil)
    }
}
