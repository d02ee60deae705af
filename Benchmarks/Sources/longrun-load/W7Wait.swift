import BenchmarkSupport
import Foundation
import GRPCCore
import LongrunProto
import Synchronization
import SwiftProtobuf

/// W7: N concurrent WaitOperation callers, each on its own running operation, spread over several
/// connections, 100 streams on each (builds before 2026-12-07 advertised no stream limit and
/// allowed 100; NIO's HTTP/2 client then queued the others). While they wait: the daemon's RSS
/// increase per waiter. Then one pipelined producer stream completes every operation: per
/// waiter, the time from its completion's acknowledgement (and from its send) to the waiter's
/// response; and the daemon's own account of the same wake-ups, from its metrics
/// (`longrun_wait_wakeup_seconds`: from a commit's announcement to the woken wait's read), which
/// this process's share of the two cores does not delay.
struct W7Result: Codable, Sendable {
    var waiters: Int
    var connections: Int
    /// Daemon RSS with the operations created, before the waiters' connections are opened.
    var rssBeforeKiB: Int
    /// With the waiters' connections open and used once, no call in flight.
    var rssConnectedKiB: Int
    /// With every waiter waiting.
    var rssWaitingKiB: Int
    /// (waiting - connected) / waiters: what each waiting call costs.
    var bytesPerWaiter: Double
    /// (waiting - before) / waiters: the same, with the connections' share.
    var bytesPerWaiterWithConnections: Double
    /// From the producer receiving the completion's acknowledgement to the waiter's response.
    /// Negative when the waiter heard first (both follow the same commit).
    var wakeAfterAcknowledgement = LatencySummary([])
    /// From sending the completion to the waiter's response (includes the commit).
    var wakeAfterSend = LatencySummary([])
    var waitersOver50Milliseconds = 0
    /// From the first completion sent to the last waiter answered.
    var completionSeconds = 0.0
    /// CPU the daemon, and this process (producer and waiters), used meanwhile: a client short of
    /// CPU would delay the waiters' responses it reads.
    var daemonCompletionCPUSeconds = 0.0
    var clientCompletionCPUSeconds = 0.0
    /// The daemon's own account of the same wake-ups (its `longrun_wait_wakeup_seconds`): nil if
    /// its metrics could not be read.
    var daemonWakeUps: DaemonWakeUps?
    var targets = "every waiter ≤ 50 ms after the acknowledgement; ≤ 2 KB of daemon RSS per waiter"

    init(waiters: Int, connections: Int, rssBeforeKiB: Int, rssConnectedKiB: Int, rssWaitingKiB: Int) {
        self.waiters = waiters
        self.connections = connections
        self.rssBeforeKiB = rssBeforeKiB
        self.rssConnectedKiB = rssConnectedKiB
        self.rssWaitingKiB = rssWaitingKiB
        bytesPerWaiter = Double(rssWaitingKiB - rssConnectedKiB) * 1024 / Double(waiters)
        bytesPerWaiterWithConnections = Double(rssWaitingKiB - rssBeforeKiB) * 1024 / Double(waiters)
    }

    enum CodingKeys: String, CodingKey {
        case waiters, connections, bytesPerWaiter, bytesPerWaiterWithConnections, wakeAfterAcknowledgement, wakeAfterSend
        case waitersOver50Milliseconds, completionSeconds, daemonCompletionCPUSeconds, clientCompletionCPUSeconds, daemonWakeUps, targets
        case rssBeforeKiB = "rss_before_kib"
        case rssConnectedKiB = "rss_connected_kib"
        case rssWaitingKiB = "rss_waiting_kib"
    }
}

struct W7Wait {
    let settings: Settings

    func run() async throws -> W7Result {
        let count = settings.waiters
        let connections = settings.waitConnections ?? (count + Self.streamsPerConnection - 1) / Self.streamsPerConnection
        say("W7 \(count) concurrent WaitOperation callers on \(connections) connections, then completion of every operation")
        let metrics = NSTemporaryDirectory() + "longrun-load-\(getpid())-w7-metrics.sock"
        let daemon = try Daemon.start(binary: settings.longrund, arguments: ["--metrics-listen", metrics])
        defer {
            daemon.stop()
            unlink(metrics)
        }
        return try await Connection.with(socket: daemon.socket) { control in
            try await populate(control.producers, prefix: "w-", count: count)
            let rssBefore = await Self.settledRSS(daemon.server)
            return try await Connection.with(socket: daemon.socket, count: connections) { clients in
                for client in clients { _ = try await client.operations.getOperation(.with { $0.name = "operations/w-0" }) }
                let rssConnected = await Self.settledRSS(daemon.server)
                let arrivals = Arrivals(count: count)
                return try await withThrowingTaskGroup(of: Void.self) { waiters in
                    for index in 0..<count {
                        let operations = clients[index % clients.count].operations
                        waiters.addTask {
                            let operation = try await operations.waitOperation(.with {
                                $0.name = "operations/w-\(index)"
                                $0.timeout = .init(seconds: 600)
                            })
                            arrivals.record(index, done: operation.done)
                        }
                    }
                    let rssWaiting = await Self.settledRSS(daemon.server)
                    guard arrivals.answered == 0 else {
                        throw RPCError(code: .internalError, message: "\(arrivals.answered) waiters were answered before any completion")
                    }
                    var result = W7Result(waiters: count, connections: connections, rssBeforeKiB: rssBefore, rssConnectedKiB: rssConnected, rssWaitingKiB: rssWaiting)
                    say("""
                          daemon RSS \(rssBefore) KiB before, \(rssConnected) KiB with \(connections) connections open, \(rssWaiting) KiB with \(count) waiting: \
                        \(Format.fixed(result.bytesPerWaiter, 0)) bytes per waiter (\(Format.fixed(result.bytesPerWaiterWithConnections, 0)) with the connections' share; target ≤ 2 KB)
                        """)
                    try await Self.completeAll(count, producers: control.producers, daemon: daemon.server, arrivals: arrivals, into: &result) {
                        try await waiters.waitForAll()
                    }
                    result.daemonWakeUps = UnixSocket.get("/metrics", from: metrics).flatMap(DaemonWakeUps.init(exposition:))
                    if let wakeUps = result.daemonWakeUps {
                        say("""
                              the daemon's account (longrun_wait_wakeup_seconds, from a commit's announcement to the woken wait's read): \
                            \(wakeUps.count) wake-ups, \(wakeUps.within50Milliseconds) within 50 ms, p99 at most \(wakeUps.p99AtMostText)
                            """)
                    } else {
                        say("  the daemon's metrics could not be read: no account of its own of the wake-ups")
                    }
                    return result
                }
            }
        }
    }

    /// Completes every operation on one pipelined stream, waits (`waitersDone`) for every waiter,
    /// and records each waiter's wake-up after its completion's acknowledgement and send.
    private static func completeAll(
        _ count: Int, producers: Longrun_V1_Producers.Client<Transport>, daemon: ServerProcess, arrivals: Arrivals,
        into result: inout W7Result, waitersDone: () async throws -> Void
    ) async throws {
        let started = ContinuousClock.now
        let cpuBefore = (daemon.cpuSeconds(), processCPUSeconds("self"))
        let completion = try await PipelinedStream.run(producers, window: 4096, keepTimes: true) { tag in
            tag < count ? .with { $0.complete = Requests.complete(name: "operations/w-\(tag)") } : nil
        }
        try await waitersDone()
        result.completionSeconds = (ContinuousClock.now - started).seconds
        result.daemonCompletionCPUSeconds = daemon.cpuSeconds() - cpuBefore.0
        result.clientCompletionCPUSeconds = processCPUSeconds("self") - cpuBefore.1
        guard arrivals.notDone == 0 else { throw RPCError(code: .internalError, message: "\(arrivals.notDone) waiters returned a running operation") }

        var afterAcknowledgement: [Int64] = [], afterSend: [Int64] = []
        for (index, arrived) in arrivals.instants.enumerated() {
            guard let arrived, let times = completion.times[UInt64(index)] else { continue }
            afterAcknowledgement.append((arrived - times.acknowledged).microseconds)
            afterSend.append((arrived - times.sent).microseconds)
        }
        result.wakeAfterAcknowledgement = LatencySummary(afterAcknowledgement)
        result.wakeAfterSend = LatencySummary(afterSend)
        result.waitersOver50Milliseconds = afterAcknowledgement.count { $0 > 50_000 }
        say("""
              wake-up after the acknowledgement: \(result.wakeAfterAcknowledgement.text), min \(Format.micros(result.wakeAfterAcknowledgement.minMicroseconds)); \
            \(result.waitersOver50Milliseconds) over 50 ms (target: none)
              wake-up after sending the completion: \(result.wakeAfterSend.text); all \(count) completed and woken in \(Format.fixed(result.completionSeconds * 1000, 0)) ms, \
            CPU meanwhile: daemon \(Format.fixed(result.daemonCompletionCPUSeconds, 2)) s, this tool \(Format.fixed(result.clientCompletionCPUSeconds, 2)) s
            """)
    }

    /// The daemon's RSS once it and this process are idle (see ``settle(_:)``).
    private static func settledRSS(_ server: ServerProcess) async -> Int {
        await settle(server)
        return server.rssKiB()
    }

    /// Streams the waiters open on one connection: what every daemon build allows.
    static let streamsPerConnection = 100

    /// Returns once neither the daemon nor this process has used CPU for 300 ms (at least 1 s
    /// after the call, at most 60 s): every call sent so far has been received and registered.
    static func settle(_ server: ServerProcess) async {
        let start = ContinuousClock.now
        var quiet = 0
        var last = (server.cpuSeconds(), processCPUSeconds("self"))
        while ContinuousClock.now - start < .seconds(60) {
            try? await Task.sleep(for: .milliseconds(100))
            let now = (server.cpuSeconds(), processCPUSeconds("self"))
            quiet = now.0 - last.0 < 0.005 && now.1 - last.1 < 0.005 ? quiet + 1 : 0
            last = now
            if quiet >= 3 && ContinuousClock.now - start >= .seconds(1) { return }
        }
    }
}

/// A histogram of the daemon's `longrun_wait_wakeup_seconds`, as W7 reports it.
struct DaemonWakeUps: Codable, Sendable {
    var count: Int
    var within50Milliseconds: Int
    /// The upper bound of the bucket that holds the 99th percentile (nil: over the last bound).
    var p99AtMostMilliseconds: Double?

    var p99AtMostText: String { p99AtMostMilliseconds.map { "\(Format.fixed($0, 2)) ms" } ?? "over the last bucket" }

    /// From the daemon's Prometheus text: the metric's cumulative buckets (`le` in seconds).
    init?(exposition: String) {
        var buckets: [(bound: Double, count: Int)] = []
        for line in exposition.split(separator: "\n") where line.hasPrefix("longrun_wait_wakeup_seconds_bucket{") {
            guard let quote = line.range(of: "le=\""), let end = line[quote.upperBound...].firstIndex(of: "\""),
                  let count = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            let bound = line[quote.upperBound..<end] == "+Inf" ? Double.infinity : Double(line[quote.upperBound..<end])
            if let bound { buckets.append((bound, Int(count))) }
        }
        buckets.sort { $0.bound < $1.bound }
        guard let total = buckets.last?.count else { return nil }
        count = total
        within50Milliseconds = buckets.last { $0.bound <= 0.05 }?.count ?? 0
        let p99 = buckets.first { Double($0.count) >= 0.99 * Double(total) }?.bound ?? .infinity
        p99AtMostMilliseconds = p99.isFinite ? p99 * 1000 : nil
    }
}

/// When each waiter was answered.
private final class Arrivals: Sendable {
    private struct State {
        var instants: [ContinuousClock.Instant?]
        var answered = 0
        var notDone = 0
    }

    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(instants: Array(repeating: nil, count: count))) }

    func record(_ index: Int, done: Bool) {
        let now = ContinuousClock.now
        state.withLock {
            $0.instants[index] = now
            $0.answered += 1
            if !done { $0.notDone += 1 }
        }
    }

    var instants: [ContinuousClock.Instant?] { state.withLock { $0.instants } }
    var answered: Int { state.withLock { $0.answered } }
    var notDone: Int { state.withLock { $0.notDone } }
}
