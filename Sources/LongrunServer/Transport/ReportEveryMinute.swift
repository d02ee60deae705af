import Synchronization

/// Counts occurrences of something the log should tell an operator of, and says when to tell: at
/// the first, then at most once a minute, with how many happened since it last told. A peer that
/// causes the occurrence on purpose (refused connections, broken protocol) cannot flood the log.
final class ReportEveryMinute: Sendable {
    private let interval: Duration
    private let state = Mutex<(last: ContinuousClock.Instant?, unreported: Int)>((nil, 0))

    init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// Counts one occurrence; returns the occurrences since the last report, this one included,
    /// when a report is due now, else nil.
    func record() -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.unreported += 1
            guard state.last.map({ now - $0 >= interval }) ?? true else { return nil }
            state.last = now
            defer { state.unreported = 0 }
            return state.unreported
        }
    }
}
