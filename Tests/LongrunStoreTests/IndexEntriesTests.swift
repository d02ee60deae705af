import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// `IndexEntries` compares two states' index entries by their facts, without building keys (the
/// replay and every write rely on it): that must say exactly what comparing the keys says.
@Suite("IndexEntries: facts compared as keys")
struct IndexEntriesTests {
    static let names = ["operations/a", "operations/b", "tenants/acme/operations/a"].map { try! OperationName(parsing: $0) }
    static let times = [0, 1, 2].map { Timestamp(seconds: 1_800_000_000 + $0) }

    /// A state folded from a few random events, from small sets of names, times and request ids, so
    /// that two states often share an entry.
    static func state(_ random: inout SplitMix64) -> OperationState? {
        let name = random.pick(names)
        var state: OperationState?
        for sequence in 1...UInt64.random(in: 1...5, using: &random) {
            let time = random.pick(times)
            let kind: Event.Kind = sequence == 1
                ? .created(.init(requestID: random.pick([nil, "r1", "r2"]), leaseTTL: random.pick([nil, .seconds(1)])))
                : random.pick([
                    .progressed(metadata: nil), .cancelRequested(reason: "", graceDeadline: random.pick([nil] + times)),
                    .completed(.response(Payload(typeURL: "t", value: []))), .completed(.error(Status(.cancelled, ""))),
                    .completed(.error(Status(.internal, ""))), .deleted, .expired, .holdSet(reason: ""), .holdReleased(reason: ""),
                    .leaseRenewed, .adopted(leaseTTL: .seconds(2)),
                ])
            let event = Event(sequence: random.chance(50) ? sequence : sequence + 1, time: time, name: name, actor: Actor(), kind: kind)
            state = Lifecycle.apply(state, event) ?? state
        }
        return random.chance(10) ? nil : state
    }

    @Test func sameEntryIsSameKey() {
        FuzzRun.run(41) { random in
            let a = IndexEntries(Self.state(&random))
            let b = IndexEntries(Self.state(&random))
            for index in IndexEntries.Index.allCases {
                var keyA: [UInt8] = []
                var keyB: [UInt8] = []
                a.key(index, into: &keyA)
                b.key(index, into: &keyB)
                let sameKey = a.has(index) && b.has(index) && keyA == keyB
                #expect(a.hasSameEntry(index, as: b) == sameKey, "\(index); \(FuzzRun.reproduce)")
                #expect(IndexEntries.removes(index, from: a, to: b) == (a.has(index) && !sameKey), "\(index); \(FuzzRun.reproduce)")
                #expect(IndexEntries.adds(index, from: a, to: b) == (b.has(index) && !sameKey), "\(index); \(FuzzRun.reproduce)")
            }
        }
    }
}
