import BenchmarkSupport
import Foundation
import GRPCCore
import LongrunProto
import NIOCore
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
///
/// The waiters and the completions go through grpc-swift's client (a task per waiter), or with
/// `--wait-client wire` through ``WireConnection`` (no task per call), whose times are taken as
/// each answer is read off the socket: with 10,000 tasks to resume on the two cores the daemon
/// uses too, grpc-swift's client adds its own delays to the wake-ups it reports.
struct W7Result: Codable, Sendable {
    var waiters: Int
    var connections: Int
    /// `grpc-swift` or `wire` (``WaitClient``).
    var client = WaitClient.grpcSwift.description
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
        case waiters, connections, client, bytesPerWaiter, bytesPerWaiterWithConnections, wakeAfterAcknowledgement, wakeAfterSend
        case waitersOver50Milliseconds, completionSeconds, daemonCompletionCPUSeconds, clientCompletionCPUSeconds, daemonWakeUps, targets
        case rssBeforeKiB = "rss_before_kib"
        case rssConnectedKiB = "rss_connected_kib"
        case rssWaitingKiB = "rss_waiting_kib"
    }
}

/// What carries W7's calls (`--wait-client`).
enum WaitClient: String, Codable, Sendable, CustomStringConvertible, CaseIterable {
    case grpcSwift = "grpc-swift"
    case wire

    var description: String { rawValue }
}

struct W7Wait {
    let settings: Settings

    func run() async throws -> W7Result {
        let count = settings.waiters
        let connections = settings.waitConnections ?? (count + Self.streamsPerConnection - 1) / Self.streamsPerConnection
        say("""
            W7 \(count) concurrent WaitOperation callers on \(connections) connections (\(settings.waitClient.description)), \
            then completion of every operation
            """)
        let metrics = NSTemporaryDirectory() + "longrun-load-\(getpid())-w7-metrics.sock"
        let daemon = try Daemon.start(binary: settings.longrund, arguments: ["--metrics-listen", metrics])
        defer {
            daemon.stop()
            unlink(metrics)
        }
        var result = try await Connection.with(socket: daemon.socket) { control in
            try await populate(control.producers, prefix: "w-", count: count)
            let rssBefore = await Self.settledRSS(daemon.server)
            switch settings.waitClient {
            case .grpcSwift:
                return try await waitOnGRPCSwift(count, connections: connections, daemon: daemon, producers: control.producers, rssBefore: rssBefore)
            case .wire:
                return try await waitOnTheWire(count, connections: connections, daemon: daemon, rssBefore: rssBefore)
            }
        }
        result.client = settings.waitClient.description
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

    /// Waiters on grpc-swift's client, a task each; the completions on its producer stream.
    private func waitOnGRPCSwift(
        _ count: Int, connections: Int, daemon: Daemon, producers: Longrun_V1_Producers.Client<Transport>, rssBefore: Int
    ) async throws -> W7Result {
        try await Connection.with(socket: daemon.socket, count: connections) { clients in
            for client in clients { _ = try await client.operations.getOperation(.with { $0.name = "operations/w-0" }) }
            let rssConnected = await Self.settledRSS(daemon.server)
            let arrivals = Arrivals(count: count)
            return try await withThrowingTaskGroup(of: Void.self) { waiters in
                for index in 0..<count {
                    let operations = clients[index % clients.count].operations
                    waiters.addTask {
                        let operation = try await operations.waitOperation(Self.waitRequest(index))
                        arrivals.record(index, done: operation.done, at: .now)
                    }
                }
                var result = try await Self.waiting(count, connections: connections, daemon: daemon, arrivals: arrivals,
                                                     rss: (rssBefore, rssConnected))
                let started = Self.CompletionStart(daemon: daemon.server)
                let completion = try await PipelinedStream.run(producers, window: Self.completionWindow, keepTimes: true) { tag in
                    tag < count ? Self.completion(Int(tag)) : nil
                }
                try await waiters.waitForAll()
                try Self.report(completion.times, arrivals: arrivals, started: started, daemon: daemon.server, into: &result)
                return result
            }
        }
    }

    /// Waiters and completions on ``WireConnection``s: no task per call, every answer timed as it
    /// is read off the socket.
    private func waitOnTheWire(_ count: Int, connections: Int, daemon: Daemon, rssBefore: Int) async throws -> W7Result {
        var opened: [WireConnection] = []
        defer { for wire in opened { Task { await wire.close() } } }
        // The waiters' connections and the producer's (whose share of the RSS, unlike grpc-swift's
        // producer on the control connection, is in `rssConnected`: 3 bytes a waiter).
        for _ in 0...connections { opened.append(try await WireConnection.connect(to: daemon.socket)) }
        let wires = opened.dropLast(), producer = opened.last!
        for wire in opened {
            let end = try await wire.unary(Self.getPath, Google_Longrunning_GetOperationRequest.with { $0.name = "operations/w-0" })
            guard end.status == 0 else { throw RPCError(code: .unknown, message: "GetOperation on the wire: \(end.status.map(String.init) ?? "no status") \(end.message ?? "")") }
        }
        let rssConnected = await Self.settledRSS(daemon.server)
        let arrivals = Arrivals(count: count)
        for index in 0..<count {
            try wires[wires.startIndex + index % wires.count].unary(Self.waitPath, Self.waitRequest(index)) { end in
                let done = end.status == 0 && end.answer.flatMap { try? Google_Longrunning_Operation(serializedBytes: $0) }?.done == true
                arrivals.record(index, done: done, at: end.at, failure: end.status == 0 ? nil : "\(end.status.map(String.init) ?? "no status") \(end.message ?? "")")
            }
        }
        var result = try await Self.waiting(count, connections: connections, daemon: daemon, arrivals: arrivals, rss: (rssBefore, rssConnected))
        let started = Self.CompletionStart(daemon: daemon.server)
        let times = try await WireCompletions.run(count, window: Self.completionWindow, on: producer)
        try await arrivals.all()
        try Self.report(times, arrivals: arrivals, started: started, daemon: daemon.server, into: &result)
        return result
    }

    static let getPath = "/google.longrunning.Operations/GetOperation"
    static let waitPath = "/google.longrunning.Operations/WaitOperation"

    /// Completions the producer stream keeps unacknowledged.
    static let completionWindow = 4096

    static func waitRequest(_ index: Int) -> Google_Longrunning_WaitOperationRequest {
        .with {
            $0.name = "operations/w-\(index)"
            $0.timeout = .init(seconds: 600)
        }
    }

    static func completion(_ index: Int) -> Longrun_V1_TransitionRequest {
        .with { $0.complete = Requests.complete(name: "operations/w-\(index)") }
    }

    /// With every waiter waiting: the daemon's RSS, and none answered yet.
    private static func waiting(_ count: Int, connections: Int, daemon: Daemon, arrivals: Arrivals, rss: (before: Int, connected: Int)) async throws -> W7Result {
        let rssWaiting = await settledRSS(daemon.server)
        guard arrivals.answered == 0 else {
            throw RPCError(code: .internalError, message: "\(arrivals.answered) waiters were answered before any completion")
        }
        let result = W7Result(waiters: count, connections: connections, rssBeforeKiB: rss.before, rssConnectedKiB: rss.connected, rssWaitingKiB: rssWaiting)
        say("""
              daemon RSS \(rss.before) KiB before, \(rss.connected) KiB with \(connections) connections open, \(rssWaiting) KiB with \(count) waiting: \
            \(Format.fixed(result.bytesPerWaiter, 0)) bytes per waiter (\(Format.fixed(result.bytesPerWaiterWithConnections, 0)) with the connections' share; target ≤ 2 KB)
            """)
        return result
    }

    /// When the completions began, and the CPU used until then.
    struct CompletionStart {
        let at = ContinuousClock.now
        let cpu: (daemon: Double, client: Double)

        init(daemon: ServerProcess) { cpu = (daemon.cpuSeconds(), processCPUSeconds("self")) }
    }

    /// Records each waiter's wake-up after its completion's acknowledgement and send, once every
    /// waiter has been answered.
    private static func report(
        _ times: [UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)], arrivals: Arrivals,
        started: CompletionStart, daemon: ServerProcess, into result: inout W7Result
    ) throws {
        let count = result.waiters
        result.completionSeconds = (ContinuousClock.now - started.at).seconds
        result.daemonCompletionCPUSeconds = daemon.cpuSeconds() - started.cpu.daemon
        result.clientCompletionCPUSeconds = processCPUSeconds("self") - started.cpu.client
        guard arrivals.notDone == 0 else { throw RPCError(code: .internalError, message: "\(arrivals.notDone) waiters returned a running operation") }

        var afterAcknowledgement: [Int64] = [], afterSend: [Int64] = []
        for (index, arrived) in arrivals.instants.enumerated() {
            guard let arrived, let times = times[UInt64(index)] else { continue }
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
        var failure: String?
        var everyone: CheckedContinuation<Void, any Error>?
    }

    private let state: Mutex<State>
    private let count: Int

    init(count: Int) {
        self.count = count
        state = Mutex(State(instants: Array(repeating: nil, count: count)))
    }

    /// Waiter `index` answered `at`: with a done operation, or not, or it failed (`failure`).
    func record(_ index: Int, done: Bool, at instant: ContinuousClock.Instant, failure: String? = nil) {
        let resume = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.instants[index] = instant
            state.answered += 1
            if !done { state.notDone += 1 }
            if let failure, state.failure == nil { state.failure = "waiter \(index): \(failure)" }
            guard state.answered == count || state.failure != nil else { return nil }
            defer { state.everyone = nil }
            return state.everyone
        }
        resume?.resume(with: result)
    }

    /// Returns once every waiter has been answered; throws the first failure.
    func all() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let over = state.withLock { state -> Bool in
                guard state.answered < count, state.failure == nil else { return true }
                state.everyone = continuation
                return false
            }
            if over { continuation.resume(with: result) }
        }
    }

    private var result: Result<Void, any Error> {
        state.withLock { state in
            state.failure.map { .failure(RPCError(code: .unknown, message: $0)) } ?? .success(())
        }
    }

    var instants: [ContinuousClock.Instant?] { state.withLock { $0.instants } }
    var answered: Int { state.withLock { $0.answered } }
    var notDone: Int { state.withLock { $0.notDone } }
}

/// One producer stream on a ``WireConnection`` that completes operations `w-0` to `w-(count-1)`,
/// `window` unacknowledged at most; on its connection's event loop. Each acknowledgement is timed
/// as it is read off the socket.
private final class WireCompletions {
    private let count: Int
    private let window: Int
    private let done: EventLoopPromise<[UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)]>
    private var stream: WireCalls.Stream?
    private var sent: [ContinuousClock.Instant] = []
    private var acknowledged: [ContinuousClock.Instant?]
    private var acknowledgements = 0

    private init(count: Int, window: Int, done: EventLoopPromise<[UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)]>) {
        self.count = count
        self.window = window
        self.done = done
        acknowledged = Array(repeating: nil, count: count)
        sent.reserveCapacity(count)
    }

    /// When each completion was sent and acknowledged, once every one has been.
    static func run(_ count: Int, window: Int, on connection: WireConnection) async throws
        -> [UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)]
    {
        let eventLoop = connection.eventLoop
        let done = eventLoop.makePromise(of: [UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)].self)
        let completions = try await eventLoop.submit { NIOLoopBound(WireCompletions(count: count, window: window, done: done), eventLoop: eventLoop) }.get()
        connection.stream(
            "/longrun.v1.Producers/StreamTransitions",
            message: { completions.value.acknowledge($0) },
            ended: { completions.value.ended($0) },
            { stream in completions.value.start(stream) }
        )
        return try await done.futureResult.get()
    }

    private func ended(_ end: WireCalls.End) {
        guard acknowledgements < count else { return }
        done.fail(RPCError(code: .unknown, message: "the producer stream ended early: \(end.status.map(String.init) ?? "no status") \(end.message ?? "")"))
    }

    private func start(_ stream: WireCalls.Stream) {
        self.stream = stream
        sendMore()
    }

    private func sendMore() {
        guard let stream else { return }
        var wrote = false
        while sent.count < count, sent.count - acknowledgements < window {
            var request = W7Wait.completion(sent.count)
            request.tag = UInt64(sent.count)
            do { try stream.send(request, flush: false) } catch { return done.fail(error) }
            sent.append(.now)
            wrote = true
        }
        if wrote { stream.calls.flush() }
    }

    private func acknowledge(_ received: WireCalls.Received) {
        guard let response = try? Longrun_V1_TransitionResponse(serializedBytes: received.bytes) else {
            return done.fail(RPCError(code: .unknown, message: "an acknowledgement that does not decode"))
        }
        if case .error(let status)? = response.result {
            return done.fail(RPCError(code: .unknown, message: "completion \(response.tag) failed: \(status.code) \(status.message)"))
        }
        guard response.tag < UInt64(count), acknowledged[Int(response.tag)] == nil else {
            return done.fail(RPCError(code: .unknown, message: "an acknowledgement of tag \(response.tag), not sent or acknowledged twice"))
        }
        acknowledged[Int(response.tag)] = received.at
        acknowledgements += 1
        guard acknowledgements < count else {
            stream?.finish()
            var times: [UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)] = [:]
            for (tag, acknowledged) in acknowledged.enumerated() { times[UInt64(tag)] = (sent[tag], acknowledged!) }
            return done.succeed(times)
        }
        sendMore()
    }
}
