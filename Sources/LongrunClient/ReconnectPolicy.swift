import Synchronization

/// When `wait` and `watch` reconnect after the daemon went away (a restart), and when they give up.
///
/// Only a daemon that has answered once is waited for: a wrong or missing socket fails at once.
/// Each outage is retried with capped exponential backoff (100 ms, doubling, at most 2 s) until it
/// has lasted `retryFor` or `deadline` has passed; an answer after an outage starts the count
/// afresh. Pure, with the times given, for tests.
package struct ReconnectPolicy: Sendable {
    package var retryFor: Duration
    package var deadline: ContinuousClock.Instant?
    package var firstDelay = Duration.milliseconds(100)
    package var maximumDelay = Duration.seconds(2)
    private var outageStart: ContinuousClock.Instant?
    private var delay = Duration.zero

    package init(retryFor: Duration, deadline: ContinuousClock.Instant? = nil) {
        self.retryFor = retryFor
        self.deadline = deadline
    }

    /// After a failure to reach the daemon at `now`: how long to wait before reconnecting, or nil
    /// to give up. `lastAnswer` is when the daemon last answered (nil: never).
    package mutating func delayAfterFailure(now: ContinuousClock.Instant, lastAnswer: ContinuousClock.Instant?) -> Duration? {
        guard let lastAnswer else { return nil }
        if let start = outageStart, lastAnswer <= start {
            delay = min(delay * 2, maximumDelay)
        } else {
            outageStart = now
            delay = firstDelay
        }
        guard let start = outageStart, now - start < retryFor else { return nil }
        if let deadline, now >= deadline { return nil }
        let giveUp = min(start + retryFor, deadline ?? start + retryFor)
        return min(delay, giveUp - now)
    }
}

/// When the daemon last answered, shared between a command's callbacks and its retry loop.
package final class Liveness: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    package init() {}

    package func answered(at instant: ContinuousClock.Instant = .now) {
        last.withLock { $0 = instant }
    }

    package var lastAnswer: ContinuousClock.Instant? { last.withLock { $0 } }
}
