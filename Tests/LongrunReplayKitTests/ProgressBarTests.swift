import LongrunReplayKit
import LongrunStore
import Testing

@Suite("Progress bar")
struct ProgressBarTests {
    @Test func rendersFractionRateAndETA() {
        let text = ProgressBar.render(StoreProgress(phase: "replaying", done: 500_000, total: 1_000_000), elapsed: 0.5, width: 10)
        #expect(text == "replaying  [=====>    ]  50%  1.0M events/s  ETA 1s")
    }

    @Test func aFinishedPhaseHasAFullBarAndNoETA() {
        let text = ProgressBar.render(StoreProgress(phase: "checking", done: 42, total: 42), elapsed: 2, width: 4)
        #expect(text == "checking  [====]  100%  21 events/s")
    }

    @Test(arguments: [(950.0, "950"), (12_345.0, "12.3K"), (1_234_567.0, "1.2M"), (50.0, "50")])
    func compactNumbers(_ value: Double, _ expected: String) {
        #expect(ProgressBar.compact(value) == expected)
    }
}
