import Logging
public import LongrunDomain
public import LongrunStore

extension LongrunEngine {
    /// What the integrity checks have found so far (scrub passes and reads).
    public var integrityStatus: IntegrityStatus { integrity.status }

    /// Whether the integrity checks know of damage now: cheap (one lock, no copy), for health checks.
    public var integrityDamageKnown: Bool { integrity.damageKnown }

    /// Runs a whole scrub pass now, at full speed on a thread of its own, and returns what it found
    /// (also published in ``integrityStatus``). The engine keeps serving meanwhile. Only for
    /// those who may administer the store (``Access/requireAdministration(_:)``).
    public func scrub(access: Access = .unrestricted) async throws -> IntegrityStatus {
        try access.requireAdministration("scrub the store")
        try await scrubPass(share: nil)
        return integrity.status
    }

    /// Background scrub passes, one every ``Configuration/scrubInterval``, each throttled to
    /// ``Configuration/scrubShare`` of one core. Returns when the task is cancelled.
    func runScrubs() async {
        guard let interval = configuration.scrubInterval, lmdb != nil else { return }
        // The first pass starts soon after opening (not at once: start-up has work of its own).
        do { try await Task.sleep(for: min(interval, configuration.scrubFirstDelay)) } catch { return }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await scrubPass(share: configuration.scrubShare)
            } catch is CancellationError {
                return
            } catch {
                logger.error("integrity scrub pass failed; retrying at the next interval", metadata: ["error": "\(error)"])
            }
            let next = started + interval
            do { try await Task.sleep(until: max(next, ContinuousClock.now + .seconds(1)), clock: .continuous) } catch { return }
        }
    }

    /// One pass in steps; with `share`, sleeps between steps so the pass uses at most that fraction
    /// of one core. A step's cost is its time on its thread, not the time until this task resumes
    /// after it: on a busy machine that wait can be far longer than the step, and the share would
    /// multiply it (at 3%, a second's wait became half a minute's sleep).
    func scrubPass(share: Double?) async throws {
        let store = try requireLMDB("scrubbing")
        let scrubber = Scrubber(store: store)
        let started = clock.now()
        integrity.passStarted()
        do {
            let step = Step(scrubber)
            while true {
                try Task.checkCancellation()
                let (more, spent) = try await onDedicatedThread { try step.run(budget: 2_000) }
                if !more { break }
                if let share, share > 0, share < 1 {
                    try await Task.sleep(for: spent * ((1 - share) / share))
                }
            }
            if let (sequence, hash) = scrubber.verifiedLog {
                // The next start checks only the log after this point (and after the newest snapshot).
                try await onDedicatedThread { try store.recordVerifiedLog(through: sequence, hash: hash) }
            }
            integrity.passFinished(started: started, finished: clock.now(), findings: scrubber.findings, checked: scrubber.checked)
        } catch {
            integrity.passAbandoned()
            throw error
        }
    }

    /// Reads back the log written since the last checkpoint and moves the checkpoint to the head
    /// (``Store/advanceVerifiedLog()``), so a restart checks only what was written after it, with
    /// or without snapshots. Damage it meets is a finding, as a scrub's would be. Returns the events
    /// checked (nil before a whole-log check has set the first checkpoint).
    @discardableResult
    public func advanceVerifiedLog() async throws -> UInt64? {
        guard let store = lmdb else { return nil }
        guard let (checked, problem) = try await onDedicatedThread({ try store.advanceVerifiedLog() }) else { return nil }
        if let problem {
            integrity.noteFinding(IntegrityFinding(kind: problem.kind == .gap ? .logGap : .brokenChain, database: "log",
                                                   sequence: problem.sequence, message: problem.message))
        }
        return checked
    }

    /// Rebuilds damaged views from the log (see ``Store/repair(_:operations:actor:now:access:progress:)``):
    /// the operations named, or with none, everything a fresh scrub pass finds that the log can
    /// rebuild. Only for unrestricted callers. Waiters of repaired operations are woken.
    public func repair(_ names: [OperationName] = [], actor: Actor, access: Access = .unrestricted) async throws -> RepairReport {
        try access.requireAdministration("repair the store")
        let requested = Set(names)
        if names.isEmpty { try await scrubPass(share: nil) }
        let findings = integrity.status.findings.filter { names.isEmpty || ($0.operation.map(requested.contains) ?? false) }
        let store = try requireLMDB("repair"), now = clock.now()
        let report = try await onDedicatedThread {
            try store.repair(findings, operations: requested, actor: actor, now: now, access: access)
        }
        waiters.notify(committedThrough: report.head, changed: report.repaired)
        integrity.repaired(report)
        logger.notice("repaired views from the log", metadata: [
            "operations": "\(report.repaired.count)", "dropped_entries": "\(report.droppedEntries)",
            "unrepairable": "\(report.unrepairable.count)", "remaining": "\(report.remaining.count)",
        ])
        return report
    }

    /// Runs `body`'s reads of the store; a record that fails its checksum is counted and logged
    /// before the DATA_LOSS error reaches the caller.
    func read<R>(_ body: (any OperationStore) async throws -> R) async throws -> R {
        do {
            return try await body(store)
        } catch let error as StoreError where error.damage != nil {
            integrity.noteDamagedRead(error)
            throw error
        }
    }

    /// ``read(_:)`` on the caller's thread, without suspending, for a store that can
    /// (``readsImmediately``).
    func readImmediately<R>(_ body: (any ImmediateReads) throws -> R) throws -> R {
        guard let store = store as? any ImmediateReads else {
            preconditionFailure("an immediate read of a store that reads only asynchronously: check readsImmediately")
        }
        do {
            return try body(store)
        } catch let error as StoreError where error.damage != nil {
            integrity.noteDamagedRead(error)
            throw error
        }
    }
}

/// Hands a scrubber to the dedicated threads its steps run on, one step at a time.
private final class Step: @unchecked Sendable {
    private let scrubber: Scrubber
    init(_ scrubber: Scrubber) { self.scrubber = scrubber }
    /// One step, and how long it took on this thread.
    func run(budget: Int) throws -> (more: Bool, spent: Duration) {
        let began = ContinuousClock.now
        let more = try scrubber.step(budget: budget)
        return (more, ContinuousClock.now - began)
    }
}
