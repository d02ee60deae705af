import LongrunEngine
import LongrunStore
import Metrics
import Prometheus
import Synchronization

/// The engine's side of the metrics: a commit observer for the batch size and commit latency
/// histograms, a wake-up observer for the waiters' wake-up histogram, and a sampler that reads
/// the gauges and the writer's and integrity monitor's counters at each scrape.
extension LongrunMetrics {
    /// Starts recording `engine`'s commits and sampling its state (and the open waits and watches
    /// in `quotas`) into this registry.
    func observe(engine: LongrunEngine, quotas: PeerQuotas) {
        let batchSize = Recorder(label: MetricName.commitBatchSize, aggregate: true, factory: factory)
        let commitDuration = Metrics.Timer(label: MetricName.commitDuration, factory: factory)
        engine.observeCommits { sample in
            batchSize.record(sample.commands)
            commitDuration.record(duration: sample.duration)
        }
        let wakeUps = Metrics.Timer(label: MetricName.waitWakeUp, factory: factory)
        engine.observeWakeUps { wakeUps.record(duration: $0) }
        let gauges = EngineGauges(registry: registry)
        addSampler { gauges.sample(engine: engine, quotas: quotas) }
    }
}

/// The registry's gauges and sampled counters for one engine. Counters the engine already keeps
/// (``WriterStatistics``, ``IntegrityStatus/damagedReads``) are caught up by their increase since
/// the last scrape, so the Prometheus counters stay monotonic and cost nothing between scrapes.
private final class EngineGauges: Sendable {
    let registry: PrometheusCollectorRegistry
    let transitions: Prometheus.Counter
    let commits: Prometheus.Counter
    let commands: Prometheus.Counter
    let damagedReads: Prometheus.Counter
    let connectionsRefused: Prometheus.Counter
    let findings: Prometheus.Gauge
    let running: Prometheus.Gauge
    let live: Prometheus.Gauge
    let waiters: Prometheus.Gauge
    let watchers: Prometheus.Gauge
    let pendingRequestBytes: Prometheus.Gauge
    let queuedWriteBytes: Prometheus.Gauge
    let unreadAnswerBytes: Prometheus.Gauge
    let connections: Prometheus.Gauge
    let logHead: Prometheus.Gauge
    let applied: Prometheus.Gauge
    let replayLag: Prometheus.Gauge
    let storeUsed: Prometheus.Gauge
    let mapSize: Prometheus.Gauge
    let maximumSize: Prometheus.Gauge
    let writesRefused: Prometheus.Gauge
    /// What the sampled counters had reached at the last scrape.
    private let seen = Mutex(Seen())
    /// Made at the first scrape that finds a snapshot: no snapshot is no series, not a fake age.
    private let snapshotGauges = Mutex<(age: Prometheus.Gauge, sequence: Prometheus.Gauge)?>(nil)

    private struct Seen {
        var transitions: UInt64 = 0
        var commits: UInt64 = 0
        var commands: UInt64 = 0
        var damagedReads: UInt64 = 0
        var connectionsRefused = 0
    }

    /// A name with its help text; the name is whole already (no namespace or unit to join).
    private static func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        transitions = registry.makeCounter(descriptor: Self.describe(MetricName.transitions, "Events (operation transitions) committed to the log since the daemon started."))
        commits = registry.makeCounter(descriptor: Self.describe(MetricName.commits, "Write transactions committed since the daemon started (one per group-commit batch)."))
        commands = registry.makeCounter(descriptor: Self.describe(MetricName.commands, "Write commands answered (accepted or rejected) since the daemon started."))
        damagedReads = registry.makeCounter(descriptor: Self.describe(MetricName.damagedReads, "Reads refused with DATA_LOSS because a stored record failed its checksum."))
        connectionsRefused = registry.makeCounter(descriptor: Self.describe(
            MetricName.connectionsRefused, "Client connections refused since the daemon started because their uid had as many open as it may (--max-connections-per-peer)."))
        findings = registry.makeGauge(descriptor: Self.describe(MetricName.integrityFindings, "Damaged records the integrity monitor knows of now (see longrun info)."))
        running = registry.makeGauge(descriptor: Self.describe(MetricName.runningOperations, "Live operations that are not done."))
        live = registry.makeGauge(descriptor: Self.describe(MetricName.liveOperations, "Live (not deleted or expired) operations."))
        waiters = registry.makeGauge(descriptor: Self.describe(MetricName.waiters, "Open WaitOperation calls."))
        watchers = registry.makeGauge(descriptor: Self.describe(MetricName.watchers, "Open WatchOperations streams."))
        pendingRequestBytes = registry.makeGauge(descriptor: Self.describe(
            MetricName.pendingRequestBytes, "Bytes of request messages still arriving in pieces, by the size each announces, over all uids."))
        queuedWriteBytes = registry.makeGauge(descriptor: Self.describe(
            MetricName.queuedWriteBytes, "Bytes of the request messages of writes waiting for their commits, over all uids."))
        unreadAnswerBytes = registry.makeGauge(descriptor: Self.describe(
            MetricName.unreadAnswerBytes, "Bytes of answers written and held until their peers' HTTP/2 windows let them out, over all uids."))
        connections = registry.makeGauge(descriptor: Self.describe(
            MetricName.clientConnections, "Client connections open, to the gRPC and HTTP sockets (refused ones until they close included)."))
        logHead = registry.makeGauge(descriptor: Self.describe(MetricName.logHead, "Sequence of the newest event in the log."))
        applied = registry.makeGauge(descriptor: Self.describe(MetricName.appliedSequence, "Sequence of the newest event folded into the views."))
        replayLag = registry.makeGauge(descriptor: Self.describe(MetricName.replayLag, "Events in the log not yet folded into the views; 0 once startup replay is done."))
        storeUsed = registry.makeGauge(descriptor: Self.describe(MetricName.storeUsed, "Bytes of the data file in use (LMDB pages up to the highest written)."))
        mapSize = registry.makeGauge(descriptor: Self.describe(MetricName.storeMapSize, "Current LMDB map size in bytes: the data file may grow to this before the map grows."))
        maximumSize = registry.makeGauge(descriptor: Self.describe(MetricName.storeMaximum, "Largest the data file may grow (--max-store-size)."))
        writesRefused = registry.makeGauge(descriptor: Self.describe(MetricName.writesRefused, "1 while writes are refused because the store or disk is full, else 0."))
    }

    func sample(engine: LongrunEngine, quotas: PeerQuotas) {
        let statistics = engine.writerStatistics
        let integrity = engine.integrityStatus
        let connectionCounts = quotas.connectionCounts()
        seen.withLock { seen in
            transitions.increment(by: Int64(statistics.transitions &- seen.transitions))
            commits.increment(by: Int64(statistics.commits &- seen.commits))
            commands.increment(by: Int64(statistics.commands &- seen.commands))
            damagedReads.increment(by: Int64(integrity.damagedReads &- seen.damagedReads))
            connectionsRefused.increment(by: Int64(connectionCounts.refused - seen.connectionsRefused))
            seen = Seen(transitions: statistics.transitions, commits: statistics.commits, commands: statistics.commands,
                        damagedReads: integrity.damagedReads, connectionsRefused: connectionCounts.refused)
        }
        findings.set(Int64(integrity.findings.count))
        waiters.set(Int64(quotas.totalOpen(.wait)))
        watchers.set(Int64(quotas.totalOpen(.watch)))
        pendingRequestBytes.set(Int64(quotas.totalPendingBytes()))
        queuedWriteBytes.set(Int64(quotas.totalQueuedBytes()))
        unreadAnswerBytes.set(Int64(quotas.totalUnreadBytes()))
        connections.set(Int64(connectionCounts.open))
        writesRefused.set(Int64(engine.writesRefused ? 1 : 0))
        maximumSize.set(Int64(engine.configuration.maximumMapSize))
        // A closed engine (shutting down) has no store to read: keep the last values.
        guard let sample = try? engine.metricsSample() else { return }
        if let count = sample.runningOperations { running.set(Int64(count)) }
        if let count = sample.liveOperations { live.set(Int64(count)) }
        logHead.set(Int64(clamping: sample.logHead))
        applied.set(Int64(clamping: sample.appliedSequence))
        replayLag.set(Int64(clamping: sample.logHead &- min(sample.logHead, sample.appliedSequence)))
        if let space = sample.space {
            storeUsed.set(Int64(space.usedBytes))
            mapSize.set(Int64(space.mapSizeBytes))
        }
        if let sequence = sample.snapshotSequence, let age = sample.snapshotAge {
            let gauges = snapshotGauges.withLock { gauges in
                if gauges == nil {
                    gauges = (registry.makeGauge(descriptor: Self.describe(MetricName.snapshotAge, "Seconds since the newest snapshot was taken.")),
                              registry.makeGauge(descriptor: Self.describe(MetricName.snapshotSequence, "Event sequence the newest snapshot covers.")))
                }
                return gauges!
            }
            gauges.age.set(Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18)
            gauges.sequence.set(Int64(clamping: sequence))
        }
    }
}
