public import LongrunDomain
import LongrunStore
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// Follows every host's commits: reads the log after the last sequence seen whenever a
    /// `NOTIFY` arrives, and at least every ``Options/pollInterval`` (notifications are hints: one
    /// lost, or the listening connection down, delays a wake-up by at most that, never loses it).
    /// Sequences are commit order, so reading after the last one seen never skips a commit.
    public func followCommits(after sequence: UInt64, _ notify: @escaping @Sendable (UInt64, [OperationName]) -> Void) {
        let bell = Doorbell()
        let task = Task { [self] in
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listen(ringing: bell) }
                group.addTask { await self.poll(after: sequence, bell: bell, notify: notify) }
            }
        }
        follower.withLock { $0 = task }
    }

    private func listen(ringing bell: Doorbell) async {
        guard options.notifyCommits else { return }
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let own = " " + commitToken
                    try await connection.listen(on: PostgresSchema.channel) { notifications in
                        // This store's own commits already woke its waiters (the writer did).
                        for try await notification in notifications where !notification.payload.hasSuffix(own) { bell.ring() }
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.debug("listening for commits failed; polling until it is back", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func poll(after sequence: UInt64, bell: Doorbell, notify: @Sendable (UInt64, [OperationName]) -> Void) async {
        var seen = sequence
        var failing = false
        while !Task.isCancelled {
            do {
                let (through, names, rows) = try await committed(after: seen, limit: 10_000)
                if through > seen {
                    seen = through
                    notify(through, names)
                    if rows == 10_000 { continue }  // more to read at once
                }
                if failing { logger.notice("following commits again", metadata: ["sequence": "\(seen)"]) }
                failing = false
            } catch {
                if Task.isCancelled { return }
                if !failing { logger.warning("cannot read other hosts' commits; retrying", metadata: ["error": "\(mapped(error))"]) }
                failing = true
            }
            await bell.wait(timeout: options.pollInterval)
        }
    }

    /// The sequence through which the log is read after `sequence`, and the operations it changed.
    private func committed(after sequence: UInt64, limit: Int) async throws -> (UInt64, [OperationName], rows: Int) {
        try await reading { [logger] connection in
            var through = sequence
            var names: [OperationName] = []
            var seen = Set<String>()
            var count = 0
            let rows = try await connection.query("""
                SELECT sequence, operation FROM longrun_log WHERE sequence > \(Int64(sequence)) ORDER BY sequence LIMIT \(Int64(limit))
                """, logger: logger)
            for try await (sequence, operation) in rows.decode((Int64, String).self) {
                through = UInt64(sequence)
                count += 1
                if seen.insert(operation).inserted, let name = try? OperationName(parsing: operation) { names.append(name) }
            }
            return (through, names, count)
        }
    }
}

/// Wakes one waiting follower; a ring with nobody waiting is kept for the next wait.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at the next ring (at once if one came since the last wait), after `timeout`, or
    /// when the task is cancelled.
    func wait(timeout: Duration) async {
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            ring()
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            ring()
        }
    }
}
