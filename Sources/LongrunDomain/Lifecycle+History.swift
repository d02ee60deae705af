extension Lifecycle {
    /// Folds one operation's history, read a page at a time, into its state right after the event
    /// at ``sequence``: the one rule for "state at", whichever backend supplies the pages.
    ///
    /// ```swift
    /// var fold = Lifecycle.HistoryFold(through: sequence)
    /// while let after = fold.nextPageAfter { fold.add(try events(of: name, after: after, limit: Lifecycle.HistoryFold.pageSize)) }
    /// return fold.state
    /// ```
    public struct HistoryFold: Sendable {
        /// Events asked for per page.
        public static let pageSize = 256

        /// The sequence whose state is wanted.
        public let sequence: UInt64
        /// The state folded so far; nil while the operation does not exist yet.
        public private(set) var state: OperationState?
        /// The sequence the next page starts after; nil once the fold is complete.
        public private(set) var nextPageAfter: UInt64? = 0

        public init(through sequence: UInt64) {
            self.sequence = sequence
        }

        /// Folds one page (the operation's next events, oldest first, at most ``pageSize``). A short
        /// page, or one that reaches past ``sequence``, completes the fold.
        public mutating func add(_ page: [Event]) {
            for event in page where event.sequence <= sequence { state = Lifecycle.apply(state, event) }
            if page.count == Self.pageSize, let last = page.last, last.sequence < sequence {
                nextPageAfter = last.sequence
            } else {
                nextPageAfter = nil
            }
        }
    }
}
