@testable import LongrunClient
import Testing

@Suite("Reconnect policy")
struct ReconnectPolicyTests {
    let t0 = ContinuousClock.now

    @Test func aDaemonThatNeverAnsweredIsNotWaitedFor() {
        var policy = ReconnectPolicy(retryFor: .seconds(30))
        #expect(policy.delayAfterFailure(now: t0, lastAnswer: nil) == nil)
    }

    @Test func backoffDoublesUpToTwoSecondsThenGivesUpAfterTheWindow() {
        var policy = ReconnectPolicy(retryFor: .seconds(10))
        let answered = t0 - .seconds(1)
        var now = t0
        var delays: [Duration] = []
        while let delay = policy.delayAfterFailure(now: now, lastAnswer: answered) {
            delays.append(delay)
            now += delay
        }
        #expect(Array(delays.prefix(7)) == [.milliseconds(100), .milliseconds(200), .milliseconds(400),
                                            .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2)])
        #expect(now - t0 == .seconds(10))
    }

    @Test func anAnswerStartsANewOutage() {
        var policy = ReconnectPolicy(retryFor: .seconds(1))
        #expect(policy.delayAfterFailure(now: t0, lastAnswer: t0 - .seconds(5)) == .milliseconds(100))
        #expect(policy.delayAfterFailure(now: t0 + .milliseconds(100), lastAnswer: t0 - .seconds(5)) == .milliseconds(200))
        // It answered again at t0 + 5 s; the next failure is a new outage with a fresh window.
        #expect(policy.delayAfterFailure(now: t0 + .seconds(6), lastAnswer: t0 + .seconds(5)) == .milliseconds(100))
        #expect(policy.delayAfterFailure(now: t0 + .seconds(7), lastAnswer: t0 + .seconds(5)) == nil)
    }

    @Test func theDeadlineBoundsTheWindow() {
        var policy = ReconnectPolicy(retryFor: .seconds(30), deadline: t0 + .milliseconds(250))
        #expect(policy.delayAfterFailure(now: t0, lastAnswer: t0) == .milliseconds(100))
        #expect(policy.delayAfterFailure(now: t0 + .milliseconds(100), lastAnswer: t0) == .milliseconds(150))
        #expect(policy.delayAfterFailure(now: t0 + .milliseconds(250), lastAnswer: t0) == nil)
    }

    @Test func zeroMeansNoRetry() {
        var policy = ReconnectPolicy(retryFor: .zero)
        #expect(policy.delayAfterFailure(now: t0, lastAnswer: t0) == nil)
    }
}
