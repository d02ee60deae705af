import Metrics
public import Prometheus
import Synchronization

/// The daemon's metrics: one Prometheus registry, owned by whoever creates this (the daemon, or a
/// test), so several servers in one process keep separate counts.
///
/// What happens (RPCs, commits) is recorded as it happens through swift-metrics types made from
/// ``factory``; what is (operations running, store size, snapshot age) is sampled from the engine
/// at each scrape, so an idle daemon does no work for its gauges. ``exposition()`` runs the
/// samplers, then renders the registry in Prometheus' text format.
public final class LongrunMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// swift-metrics' view of ``registry``, with this daemon's histogram buckets.
    public let factory: PrometheusMetricsFactory
    private let samplers = Mutex<[@Sendable () -> Void]>([])
    /// Every RPC's series, by label set (``recordRPC(service:method:code:duration:)``).
    private let rpcSeriesByKey = Mutex<[RPCSeries.Key: RPCSeries]>([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            MetricName.rpcDuration: MetricBuckets.rpcDuration,
            MetricName.commitDuration: MetricBuckets.commitDuration,
            MetricName.waitWakeUp: MetricBuckets.waitWakeUp,
        ]
        factory.valueHistogramBuckets = [MetricName.commitBatchSize: MetricBuckets.commitBatchSize]
        self.factory = factory
    }

    /// Makes this registry the process-wide swift-metrics backend, so metrics that libraries
    /// record through `MetricsSystem` are served too. Once per process (the daemon's `main`);
    /// tests use their own instances and never call it.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(factory)
    }

    /// The series of `key`, made at its first call.
    func rpcSeries(_ key: RPCSeries.Key) -> RPCSeries {
        if let series = rpcSeriesByKey.withLock({ $0[key] }) { return series }
        let made = RPCSeries(key, factory: factory)
        return rpcSeriesByKey.withLock { series in
            if let existing = series[key] { return existing }
            series[key] = made
            return made
        }
    }

    /// Runs `sampler` before every exposition; it sets gauges and catches counters up.
    func addSampler(_ sampler: @escaping @Sendable () -> Void) {
        samplers.withLock { $0.append(sampler) }
    }

    /// The metrics in Prometheus' text exposition format (version 0.0.4).
    public func exposition() -> [UInt8] {
        for sampler in samplers.withLock({ $0 }) { sampler() }
        return registry.emitToBuffer()
    }

    /// ``exposition()`` as a string, for tests and logs.
    public func expositionText() -> String {
        String(decoding: exposition(), as: UTF8.self)
    }

    /// The content type of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// Every metric's name, in one place: docs/API.md lists them with their meaning.
enum MetricName {
    static let rpcRequests = "longrun_rpc_requests_total"
    static let rpcDuration = "longrun_rpc_duration_seconds"
    static let transitions = "longrun_transitions_committed_total"
    static let commits = "longrun_commits_total"
    static let commands = "longrun_commands_total"
    static let commitBatchSize = "longrun_commit_batch_size"
    static let commitDuration = "longrun_commit_duration_seconds"
    static let damagedReads = "longrun_integrity_damaged_reads_total"
    static let integrityFindings = "longrun_integrity_findings"
    static let runningOperations = "longrun_running_operations"
    static let liveOperations = "longrun_live_operations"
    static let waiters = "longrun_waiters"
    static let waitWakeUp = "longrun_wait_wakeup_seconds"
    static let watchers = "longrun_watchers"
    static let pendingRequestBytes = "longrun_pending_request_bytes"
    static let queuedWriteBytes = "longrun_queued_write_bytes"
    static let unreadAnswerBytes = "longrun_unread_answer_bytes"
    static let clientConnections = "longrun_client_connections"
    static let connectionsRefused = "longrun_connections_refused_total"
    static let logHead = "longrun_log_head_sequence"
    static let appliedSequence = "longrun_applied_sequence"
    static let replayLag = "longrun_replay_lag_events"
    static let storeUsed = "longrun_store_used_bytes"
    static let storeMapSize = "longrun_store_map_size_bytes"
    static let storeMaximum = "longrun_store_max_size_bytes"
    static let writesRefused = "longrun_writes_refused"
    static let snapshotAge = "longrun_snapshot_age_seconds"
    static let snapshotSequence = "longrun_snapshot_sequence"
}

/// Histogram buckets, chosen for what each measures on a local Unix socket and a local disk.
enum MetricBuckets {
    /// Unary calls take well under a millisecond to a few (an fsync); WaitOperation and watch
    /// streams are held for seconds to an hour.
    static let rpcDuration: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(5), .seconds(30), .seconds(60), .seconds(300), .seconds(3600),
    ]
    /// One write transaction: tens of microseconds without fsync, milliseconds with one.
    static let commitDuration: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .seconds(1),
    ]
    /// A woken waiter waits for a thread: microseconds when one is free, tens of milliseconds
    /// behind thousands of other wake-ups.
    static let waitWakeUp: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .seconds(1),
    ]
    /// Commands per commit, up to the writer's default limit of 1024.
    static let commitBatchSize: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
}
