import LongrunDomain
public import LongrunStore
import Synchronization

/// What the daemon's metrics sample from a running engine. Everything here is cheap enough to call
/// at every scrape: counters under a lock, LMDB's environment info, one short read transaction,
/// and the newest snapshot's header.
extension LongrunEngine {
    /// Calls `observer` on the writer's thread after every committed batch (nil: stop). One
    /// observer at a time: the daemon's metrics. Batches that fail are not reported (their
    /// callers get the error).
    public func observeCommits(_ observer: CommitObserver?) {
        writer.commitObserver.withLock { $0 = observer.map(ObserverSlot.init) }
    }

    /// Calls `observer` each time a waiter (WaitOperation) woken by a commit has read the operation
    /// again, with the time since that commit was announced to the waiters (nil: stop): how long
    /// the wake-up waited for a thread. Called on the waiter's thread; it must be quick.
    public func observeWakeUps(_ observer: WakeObserver?) {
        wakeObserver.withLock { $0 = observer.map(ObserverSlot.init) }
    }

    func recordWakeUp(announced: ContinuousClock.Instant) {
        if let observer = wakeObserver.withLock({ $0 }) { observer.observe(.now - announced) }
    }

    /// A consistent sample of the engine's gauges.
    public struct MetricsSample: Sendable, Equatable {
        /// Sequence of the newest event in the log.
        public var logHead: UInt64
        /// Sequence of the newest event folded into the views (the log head once serving); on a
        /// shared store, the newest this host has seen committed.
        public var appliedSequence: UInt64
        /// Live operations not yet done; nil where counting them is not cheap (PostgreSQL).
        public var runningOperations: Int?
        /// Live (not deleted) operations; nil where counting them is not cheap (PostgreSQL).
        public var liveOperations: Int?
        /// The data file's use (LMDB); nil on a shared store.
        public var space: Store.SpaceUsage?
        /// The newest snapshot's event sequence; nil while there is none.
        public var snapshotSequence: UInt64?
        /// How long ago the newest snapshot was taken (by the engine's clock); nil while there is none.
        public var snapshotAge: Duration?
    }

    /// Reads the gauges' values now. Cheap and synchronous, for a scrape: on a shared store it
    /// reads no database at all (the sequence is the newest commit this host has seen).
    public func metricsSample() throws -> MetricsSample {
        guard let lmdb else {
            let seen = waiters.committedThrough
            return MetricsSample(logHead: seen, appliedSequence: seen)
        }
        let (head, applied, running, live) = try lmdb.read { reader in
            (try reader.logHead(), try reader.appliedSequence(), try reader.runningOperationCount(), try reader.liveOperationCount())
        }
        var sample = MetricsSample(logHead: head, appliedSequence: applied, runningOperations: running, liveOperations: live,
                                   space: lmdb.spaceUsage)
        if let newest = try SnapshotFile.list(in: lmdb.snapshotDirectory).first,
           let header = try? SnapshotFile.readHeader(newest.path) {
            let age = Duration.nanoseconds(max(0, clock.now().nanosecondsSinceEpoch - header.createdUnixNanos))
            sample.snapshotSequence = header.sequence
            sample.snapshotAge = age
        }
        return sample
    }
}
