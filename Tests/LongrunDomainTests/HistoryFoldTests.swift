import LongrunDomain
import Testing

@Suite("Domain: the state at a sequence, folded from pages of history")
struct HistoryFoldTests {
    static let name = try! OperationName(parsing: "operations/folded")
    static let actor = Actor(uid: 1000, pid: 1, label: "producer")

    /// A created event, then progress events, at sequences 2, 4, 6, … (other operations' between).
    static let history: [Event] = (0..<600).map { index in
        Event(sequence: UInt64(2 * index + 2), time: Timestamp(seconds: 1_800_000_000 + Int64(index)), name: name, actor: actor,
              kind: index == 0 ? .created(.init()) : .progressed(metadata: nil))
    }

    /// Folds `history` through `sequence` as a backend would, counting the pages read.
    static func fold(through sequence: UInt64) -> (state: OperationState?, pages: Int) {
        var fold = Lifecycle.HistoryFold(through: sequence)
        var pages = 0
        while let after = fold.nextPageAfter {
            pages += 1
            fold.add(Array(history.filter { $0.sequence > after }.prefix(Lifecycle.HistoryFold.pageSize)))
        }
        return (fold.state, pages)
    }

    @Test func theStateIsTheFoldOfEveryEventThroughTheSequenceAndNoMore() {
        for sequence: UInt64 in [2, 3, 512, 513, 514, 1_000, 1_200, .max] {
            let expected = Self.history.filter { $0.sequence <= sequence }.reduce(nil) { Lifecycle.apply($0, $1) }
            #expect(Self.fold(through: sequence).state == expected, "through \(sequence)")
        }
        #expect(Self.fold(through: 1).state == nil)
    }

    @Test func itReadsOnlyThePagesItNeeds() {
        #expect(Self.fold(through: 1).pages == 1)
        #expect(Self.fold(through: 512).pages == 1)  // the 256th event is at 512
        #expect(Self.fold(through: 514).pages == 2)
        #expect(Self.fold(through: .max).pages == 3)  // 256 + 256 + 88
    }
}
