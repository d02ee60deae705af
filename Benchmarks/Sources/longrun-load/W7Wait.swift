import Foundation
import GRPCCore
import LongrunProto
import Synchronization
import SwiftProtobuf

/// W7: N concurrent WaitOperation callers, each on its own running operation, spread over several
/// connections (the server advertises no stream limit, and NIO's HTTP/2 assumes 100 per connection
/// until told otherwise). While they wait: the daemon's RSS increase per waiter. Then one pipelined
/// producer stream completes every operation: per waiter, the time from its completion's
/// acknowledgement (and from its send) to the waiter's response.
struct W7Result: Codable, Sendable {
    var waiters: Int
    var connections: Int
    var rssBeforeKiB: Int
    var rssWaitingKiB: Int
    var bytesPerWaiter: Double
    /// From the producer receiving the completion's acknowledgement to the waiter's response.
    /// Negative when the waiter heard first (both follow the same commit).
    var wakeAfterAcknowledgement: LatencySummary
    /// From sending the completion to the waiter's response (includes the commit).
    var wakeAfterSend: LatencySummary
    var waitersOver50Milliseconds: Int
    var completionSeconds: Double
    var targets = "every waiter ≤ 50 ms after the acknowledgement; ≤ 2 KB of daemon RSS per waiter"

    enum CodingKeys: String, CodingKey {
        case waiters, connections, bytesPerWaiter, wakeAfterAcknowledgement, wakeAfterSend, waitersOver50Milliseconds, completionSeconds, targets
        case rssBeforeKiB = "rss_before_kib"
        case rssWaitingKiB = "rss_waiting_kib"
    }
}

struct W7Wait {
    let settings: Settings

    func run() async throws -> W7Result {
        let count = settings.waiters
        let connections = settings.waitConnections ?? max(1, (count + 99) / 100)
        say("W7 \(count) concurrent WaitOperation callers on \(connections) connections, then completion of every operation")
        let daemon = try Daemon.start(binary: settings.longrund)
        defer { daemon.stop() }
        return try await Connection.with(socket: daemon.socket) { control in
            try await populate(control.producers, prefix: "w-", count: count)
            await Self.settle(daemon.server)
            let rssBefore = daemon.server.rssKiB()
            let arrivals = Arrivals(count: count)
            return try await Connection.with(socket: daemon.socket, count: connections) { clients in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<count {
                        let operations = clients[index % clients.count].operations
                        group.addTask {
                            let operation = try await operations.waitOperation(.with {
                                $0.name = "operations/w-\(index)"
                                $0.timeout = .init(seconds: 600)
                            })
                            arrivals.record(index, done: operation.done)
                        }
                    }
                    await Self.settle(daemon.server)
                    let rssWaiting = daemon.server.rssKiB()
                    guard arrivals.answered == 0 else {
                        throw RPCError(code: .internalError, message: "\(arrivals.answered) waiters were answered before any completion")
                    }
                    say("  daemon RSS \(rssBefore / 1024) MiB before, \(rssWaiting / 1024) MiB with \(count) waiting: \(Format.fixed(Double(rssWaiting - rssBefore) * 1024 / Double(count), 0)) bytes per waiter (target ≤ 2 KB)")

                    let started = ContinuousClock.now
                    let completion = try await PipelinedStream.run(control.producers, window: 4096, keepTimes: true) { tag in
                        tag < count ? .with { $0.complete = Requests.complete(name: "operations/w-\(tag)") } : nil
                    }
                    try await group.waitForAll()
                    let completionSeconds = (ContinuousClock.now - started).seconds
                    guard arrivals.notDone == 0 else { throw RPCError(code: .internalError, message: "\(arrivals.notDone) waiters returned a running operation") }

                    var afterAcknowledgement: [Int64] = [], afterSend: [Int64] = []
                    for (index, arrived) in arrivals.instants.enumerated() {
                        guard let arrived, let times = completion.times[UInt64(index)] else { continue }
                        afterAcknowledgement.append((arrived - times.acknowledged).microseconds)
                        afterSend.append((arrived - times.sent).microseconds)
                    }
                    let result = W7Result(
                        waiters: count, connections: connections, rssBeforeKiB: rssBefore, rssWaitingKiB: rssWaiting,
                        bytesPerWaiter: Double(rssWaiting - rssBefore) * 1024 / Double(count),
                        wakeAfterAcknowledgement: LatencySummary(afterAcknowledgement), wakeAfterSend: LatencySummary(afterSend),
                        waitersOver50Milliseconds: afterAcknowledgement.count { $0 > 50_000 }, completionSeconds: completionSeconds
                    )
                    say("""
                          wake-up after the acknowledgement: \(result.wakeAfterAcknowledgement.text), min \(Format.micros(result.wakeAfterAcknowledgement.minMicroseconds)); \
                        \(result.waitersOver50Milliseconds) over 50 ms (target: none)
                          wake-up after sending the completion: \(result.wakeAfterSend.text); all \(count) completed and woken in \(Format.fixed(completionSeconds * 1000, 0)) ms
                        """)
                    return result
                }
            }
        }
    }

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
