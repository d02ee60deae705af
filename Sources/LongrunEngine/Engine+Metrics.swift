import LongrunDomain
import LongrunStore

/// What the daemon's metrics sample from a running engine. Everything here is cheap enough to call
/// at every scrape: counters under a lock, LMDB's environment info, one short read transaction,
/// and the newest snapshot's header.
extension LongrunEngine {
    /// Calls `observer` on the writer's thread after every committed batch (nil: stop). One
    /// observer at a time: the daemon's metrics. Batches that fail are not reported (their
    /// callers get the error).
    public func observeCommits(_ observer: CommitObserver?) {
        writer.commitObserver.withLock { $0 = observer }
    }

    /// A consistent sample of the engine's gauges.
    public struct MetricsSample: Sendable, Equatable {
        /// Sequence of the newest event in the log.
        public var logHead: UInt64
        /// Sequence of the newest event folded into the views (the log head once serving).
        public var appliedSequence: UInt64
        /// Live operations not yet done.
        public var runningOperations: Int
        /// Live (not deleted) operations.
        public var liveOperations: Int
        public var space: Store.SpaceUsage
        /// The newest snapshot's event sequence; nil while there is none.
        public var snapshotSequence: UInt64?
        /// How long ago the newest snapshot was taken (by the engine's clock); nil while there is none.
        public var snapshotAge: Duration?
    }

    /// Reads the gauges' values now.
    public func metricsSample() throws -> MetricsSample {
        let (head, applied, running, live) = try read { reader in
            (try reader.logHead(), try reader.appliedSequence(), try reader.runningOperationCount(), try reader.liveOperationCount())
        }
        var sample = MetricsSample(logHead: head, appliedSequence: applied, runningOperations: running, liveOperations: live,
                                   space: store.spaceUsage)
        if let newest = try SnapshotFile.list(in: store.snapshotDirectory).first,
           let header = try? SnapshotFile.readHeader(newest.path) {
            let age = Duration.nanoseconds(max(0, clock.now().nanosecondsSinceEpoch - header.createdUnixNanos))
            sample.snapshotSequence = header.sequence
            sample.snapshotAge = age
        }
        return sample
    }
}
