/// An exponential backoff schedule: `initial`, then ×`multiplier` per step, at most `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var multiplier: Double
    public var maximum: Duration

    public init(initial: Duration, multiplier: Double, maximum: Duration) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
    }

    /// 100 ms, ×1.5, at most 5 s: polling `GetOperation` when `WaitOperation` is unimplemented.
    public static let polling = Backoff(initial: .milliseconds(100), multiplier: 1.5, maximum: .seconds(5))

    /// The successive delays (an endless sequence).
    public func delays() -> Delays { Delays(next: initial, backoff: self) }

    public struct Delays: Sendable {
        var nextDelay: Duration
        let backoff: Backoff

        init(next: Duration, backoff: Backoff) {
            self.nextDelay = min(next, backoff.maximum)
            self.backoff = backoff
        }

        public mutating func next() -> Duration {
            let delay = nextDelay
            nextDelay = min(delay * backoff.multiplier, backoff.maximum)
            return delay
        }
    }
}
