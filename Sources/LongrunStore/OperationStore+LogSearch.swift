public import LongrunDomain

/// Finding events by sequence and by time through the storage seam, on either backend.
extension OperationStore {
    /// The event at `sequence`, nil if the log does not hold it.
    public func event(at sequence: UInt64) async throws -> Event? {
        guard sequence > 0, let event = try await events(after: sequence - 1, limit: 1).first, event.sequence == sequence else { return nil }
        return event
    }

    /// The newest sequence whose event's time is at or before `time`; nil when the log is empty or
    /// its first retained event is after it. A binary search over sequences: events are in commit
    /// order, each stamped by the clock of the host that committed it, so with several hosts whose
    /// clocks disagree an event within that disagreement of `time` may fall on either side.
    public func lastSequence(atOrBefore time: Timestamp) async throws -> UInt64? {
        let head = try await appliedSequence()
        let tail = try await logTail() ?? 1
        guard head >= tail, let first = try await event(at: tail), first.time <= time else { return nil }
        var low = tail, high = head
        while low < high {
            let middle = low + (high - low + 1) / 2
            guard let event = try await event(at: middle) else {
                throw StoreError(.dataLoss, "event \(middle) is missing from the log")
            }
            if event.time <= time { low = middle } else { high = middle - 1 }
        }
        return low
    }
}
