import Logging
public import LongrunDomain
public import LongrunStore
import Synchronization

/// What the engine does by itself: cancel grace, leases, retention, scheduled snapshots and compaction.
extension LongrunEngine {
    // MARK: Background work

    /// Completes with CANCELLED every operation whose cancel grace has elapsed, and with ABORTED
    /// every one whose lease has expired; returns when the next deadline comes, if any.
    ///
    /// The store's index names the operations whose deadline passed; the engine submits both
    /// commands for each and the lifecycle decides which, if either, is due. The index holds a
    /// lease's own expire time, but no lease expires sooner than its TTL after the engine started
    /// (``Lifecycle/leaseExpiry(_:engineStart:)``): after a restart the sweep reads such an
    /// operation's state and, while the lifecycle says it has yet to expire, submits nothing for it
    /// and wakes at the time the lifecycle gives (a read per sweep, no write).
    @discardableResult
    public func enforceDeadlines() async throws -> Timestamp? {
        let integrity = self.integrity, now = clock.now(), start = engineStart
        var after: EngineDeadline?, later: Timestamp?
        while true {
            let (due, next) = try await read {
                try await $0.engineDeadlines(dueBy: now, after: after, limit: 1000, damaged: { integrity.noteDamagedRead($0) })
            }
            var ripe: [OperationName] = []
            for entry in due {
                // An unreadable state is the writer's to report, command by command: submit for it.
                guard let state = try? await read({ try await $0.operation(entry.name) }),
                      let deadline = Lifecycle.nextEngineDeadline(state, engineStart: start), deadline > now
                else {
                    ripe.append(entry.name)
                    continue
                }
                later = min(later ?? deadline, deadline)
            }
            try await submitAsEngine(ripe.flatMap { [Command.enforceCancelGrace(name: $0), .expireLease(name: $0)] })
            // A full page: read on after it (entries still waiting stay in the index, so paging,
            // not reading from the start again, is what reaches the ones behind them).
            guard due.count == 1000, let last = due.last else { return [next, later].compactMap { $0 }.min() }
            after = last
        }
    }

    /// With ``Configuration/compactLogOlderThan`` set: drops the log's events through the newest
    /// snapshot whose events are all older than that. Returns how many were dropped.
    @discardableResult
    public func compactLogIfDue() async throws -> UInt64 {
        guard let age = configuration.compactLogOlderThan else { return 0 }
        let store = try requireLMDB("log compaction"), now = clock.now()
        guard let cutoff = try await store.lastSequence(atOrBefore: now - age) else { return 0 }
        return try await onDedicatedThread {
            // Checked every minute, and usually nothing is due: the newest snapshot's header says so
            // without reading (and checksumming) the whole file.
            guard let newest = try store.usableSnapshot(upTo: cutoff, checkContents: false),
                  try store.read({ try $0.compactionEnd(through: newest.sequence) }) != nil,
                  let snapshot = try store.usableSnapshot(upTo: cutoff),
                  try store.read({ try $0.compactionEnd(through: snapshot.sequence) }) != nil
            else { return 0 }
            return try store.compactLog(through: snapshot.sequence)
        }
    }

    /// Expires every done operation whose time to live has passed; returns how many.
    @discardableResult
    public func enforceRetention() async throws -> Int {
        guard !configuration.retention.keepsEverything else { return 0 }
        let integrity = self.integrity, retention = configuration.retention
        let due = try await read { try await $0.expiredByRetention(retention, now: clock.now(), limit: 1000, damaged: { integrity.noteDamagedRead($0) }) }
        try await submitAsEngine(due.map { .expire(name: $0) })
        return due.count
    }

    /// Submits the engine's own commands all at once, so they share commits, and waits for them.
    /// They are queued in the order given, so the commands of one operation are decided in that
    /// order (a due cancel grace before a due lease).
    private func submitAsEngine(_ commands: [Command]) async throws {
        let pending = commands.map { command in
            let (result, sink) = AsyncStream.makeStream(of: Result<OperationState, any Error>.self)
            writer.enqueue(command, actor: .engine, access: .unrestricted) { outcome in
                sink.yield(outcome)
                sink.finish()
            }
            return result
        }
        var firstError: (any Error)?
        for result in pending {
            for await outcome in result where firstError == nil {
                if case .failure(let error) = outcome { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// Enforces cancel grace periods and leases, takes scheduled snapshots and runs the background integrity
    /// scrub until the task is cancelled. Deadlines are met within a second.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.runScrubs() }
            group.addTask { try await self.runMaintenance() }
        }
    }

    private func runMaintenance() async throws {
        let newest = try lmdb?.usableSnapshot(upTo: .max, checkContents: false)
        let records = (try? lmdb?.read { try $0.snapshotSource().records }) ?? 0
        var lastSnapshot = LastSnapshot(sequence: newest?.sequence ?? 0, bytes: newest?.sizeBytes ?? 0, records: newest == nil ? 0 : records,
                                        entries: newest.flatMap(Self.differentialEntries), at: ContinuousClock.now)
        // What start-up (or a scrub) left checked: the log after it counts toward the next check.
        let verified = (try? lmdb?.read { try $0.verifiedLog()?.sequence }) ?? nil
        var lastCheckpoint = (at: ContinuousClock.now, applied: verified ?? 0)
        var lastCompaction = ContinuousClock.now
        while !Task.isCancelled {
            let applied = try? await appliedSequence()
            if let store = lmdb, let applied,
               let sizes = try? store.read({ (perEvent: try $0.logBytesPerEvent(), source: try $0.snapshotSource()) }),
               snapshotDue(applied: applied, last: lastSnapshot, logBytesPerEvent: sizes.perEvent, source: sizes.source) {
                do {
                    let info = try await takeSnapshot()
                    let records = (try? store.read { try $0.snapshotSource().records }) ?? sizes.source.records
                    lastSnapshot = LastSnapshot(sequence: info.sequence, bytes: info.sizeBytes, records: records,
                                                entries: Self.differentialEntries(info), at: ContinuousClock.now)
                } catch {
                    logger.error("scheduled snapshot failed; retrying at the next interval", metadata: ["error": "\(error)"])
                    lastSnapshot.at = ContinuousClock.now
                }
            }
            // A snapshot lets the log be compacted only once it is older than the compaction age:
            // look every so often, not only when a new one is taken.
            if lmdb != nil, configuration.compactLogOlderThan != nil,
               ContinuousClock.now - lastCompaction >= configuration.compactionCheckInterval {
                lastCompaction = ContinuousClock.now
                do {
                    let dropped = try await compactLogIfDue()
                    if dropped > 0 { logger.notice("compacted the log", metadata: ["events": "\(dropped)"]) }
                } catch {
                    logger.error("compacting the log failed; retrying at the next check", metadata: ["error": "\(error)"])
                }
            }
            if lmdb != nil, logCheckpointDue(since: lastCheckpoint, applied: applied) {
                lastCheckpoint = (ContinuousClock.now, applied ?? lastCheckpoint.applied)
                do { try await advanceVerifiedLog() } catch {
                    logger.error("checking the newest log failed; retrying at the next interval", metadata: ["error": "\(error)"])
                }
            }
            var next: Timestamp?
            do {
                next = try await enforceDeadlines()
                if try await enforceRetention() == 1000 { next = clock.now() }
            } catch {
                logger.error("enforcing cancel grace, leases or retention failed; retrying", metadata: ["error": "\(error)"])
            }
            var pause = Duration.seconds(1)
            if let next { pause = min(pause, max(next - clock.now(), .milliseconds(1))) }
            do { try await Task.sleep(for: pause) } catch { return }
        }
    }

    /// Whether the log written since the last in-run check is due to be checked: by
    /// ``Configuration/logCheckpointInterval``, or sooner by ``Configuration/logCheckpointEvents``.
    func logCheckpointDue(since last: (at: ContinuousClock.Instant, applied: UInt64), applied: UInt64?) -> Bool {
        if let interval = configuration.logCheckpointInterval, ContinuousClock.now - last.at >= interval { return true }
        if let every = configuration.logCheckpointEvents, let applied, applied >= last.applied, applied - last.applied >= every { return true }
        return false
    }

    // MARK: Snapshots

    /// Writes a snapshot as of the last commit into the data directory's `snapshots/` and keeps the
    /// newest ``Configuration/snapshotsKept`` restore points (and the bases they need). With
    /// ``Configuration/snapshotDifferentials`` (and `kind` nil), a differential on the newest full
    /// snapshot when fewer than half the records changed since it, else a full one (also when the
    /// last scrub found a full snapshot damaged); `kind` overrides.
    /// One at a time: FAILED_PRECONDITION if one is being written. Runs on a thread of its own; the
    /// engine keeps serving meanwhile. Only for those who may administer the store
    /// (``Access/requireAdministration(_:)``).
    public func takeSnapshot(access: Access = .unrestricted, kind: SnapshotFile.Kind? = nil) async throws -> SnapshotFile.Info {
        try access.requireAdministration("take a snapshot")
        guard snapshotting.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw DomainError(.failedPrecondition, reason: .snapshotInProgress, "a snapshot is being written; retry when it is done")
        }
        defer { snapshotting.withLock { $0 = false } }
        let store = try requireLMDB("a snapshot"), keep = configuration.snapshotsKept, created = clock.now().nanosecondsSinceEpoch
        let asked = kind ?? (configuration.snapshotDifferentials ? .automatic : .full)
        // Writing a differential reads its base's header only: once a scrub found a full snapshot
        // damaged, a full one follows, so that no more differentials are written on it.
        let damaged = Set(integrity.status.findings.filter { $0.kind == .snapshotDamaged }.map(\.database))
        let started = ContinuousClock.now
        let info = try await onDedicatedThread {
            var kind = asked
            if kind == .automatic, !damaged.isEmpty,
               try SnapshotFile.list(in: store.snapshotDirectory).contains(where: { !$0.isDifferential && damaged.contains($0.path) }) {
                kind = .full
            }
            return try SnapshotFile.write(store, into: store.snapshotDirectory, keep: keep, createdUnixNanos: created, kind: kind)
        }
        logger.notice("snapshot written", metadata: [
            "sequence": "\(info.sequence)", "bytes": "\(info.sizeBytes)", "path": "\(info.path)", "took": "\(ContinuousClock.now - started)",
            "base": "\(info.baseSequence.map(String.init) ?? "none (full)")",
        ])
        return info
    }

    /// The entries a differential snapshot holds (its header says), nil for a full one.
    static func differentialEntries(_ info: SnapshotFile.Info) -> Int? {
        guard info.isDifferential, let header = try? SnapshotFile.readHeader(info.path) else { return nil }
        return Int(header.records)
    }

    /// The newest snapshot, as the schedule needs it: its sequence, its size (0 if none) and when it
    /// was taken or found.
    struct LastSnapshot: Sendable {
        var sequence: UInt64
        var bytes: UInt64
        /// The operations' records in the store when it was taken (about the records a full one holds).
        var records: Int
        /// Of a differential: the entries it holds (the operations changed since its base); nil for a full one.
        var entries: Int? = nil
        var at: ContinuousClock.Instant
    }

    /// What the next snapshot would be, estimated without reading anything: a differential when
    /// ``Configuration/snapshotDifferentials`` is on, a snapshot was taken before, and the operations
    /// changed since the newest full one are fewer than half the records now, counting at most the
    /// last differential's entries plus one per event since the last snapshot (an upper bound:
    /// writing one counts the actual names, and may write a differential where this said full);
    /// and its bytes, at the last snapshot's bytes per record (or before any snapshot, a quarter of
    /// the records' pages: the least LMDB keeps a page filled, so the first snapshot comes no later than due).
    func nextSnapshotEstimate(events: UInt64, last: LastSnapshot, source: (records: Int, pageBytes: Int)) -> (differential: Bool, bytes: Double) {
        guard last.records > 0, last.bytes > 0 else { return (false, Double(source.pageBytes) / 4) }
        let perRecord = Double(last.bytes) / Double(max(last.entries ?? last.records, 1))
        let changed = Int(min(UInt64(source.records), UInt64(last.entries ?? 0) &+ events))
        if configuration.snapshotDifferentials, SnapshotFile.prefersDifferential(changed: changed, records: source.records) {
            return (true, perRecord * Double(changed))
        }
        return (false, perRecord * Double(source.records))
    }

    /// Whether the schedule calls for a snapshot now, given the last one, the log's size per event
    /// and what a snapshot would copy (see ``Configuration/snapshotLogRatio``). The log must have
    /// outgrown the snapshot about to be written (``nextSnapshotEstimate(events:last:source:)``: a
    /// differential's size where one would be written, so snapshots come due in proportion to what
    /// changed; a full one's, the records now at the last snapshot's bytes per record, since
    /// measured against the last snapshot alone a growing store would write more than its share).
    /// With compaction on, a snapshot is also due once the last is as old as the compaction age:
    /// the log is compacted only through a snapshot, and where each operation leaves little log
    /// beside its record (few transitions, small payloads) the ratio alone might never come due.
    func snapshotDue(applied: UInt64, last: LastSnapshot, logBytesPerEvent: Double, source: (records: Int, pageBytes: Int)) -> Bool {
        guard applied > last.sequence else { return false }
        let events = applied - last.sequence
        let logBytes = Double(events) * logBytesPerEvent
        let minimum = Double(configuration.snapshotMinimumLogBytes)
        if let ratio = configuration.snapshotLogRatio {
            let next = nextSnapshotEstimate(events: events, last: last, source: source).bytes
            if logBytes >= max(minimum, ratio * next) { return true }
        }
        if let age = configuration.compactLogOlderThan, ContinuousClock.now - last.at >= age, logBytes >= minimum { return true }
        if let every = configuration.snapshotEveryEvents, events >= every { return true }
        if let interval = configuration.snapshotInterval, ContinuousClock.now - last.at >= interval { return true }
        return false
    }
}
