import Synchronization

/// Where the server is in its life, as far as probes care.
public enum ServerPhase: Int, Sendable, Comparable {
    /// The store is open but the server does not serve calls yet.
    case starting
    /// The socket listens and calls are served.
    case serving
    /// Graceful shutdown (SIGTERM/SIGINT): open calls finish, no new ones are taken.
    case draining

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What `grpc.health.v1.Health` reports for one service name.
public enum ServingStatus: Sendable, Equatable {
    case serving
    /// With the reasons, for logs and tests (the protocol carries none).
    case notServing(reasons: [String])
}

/// One reason the daemon may be unable to serve: a cheap, thread-safe check, and the services it
/// makes NOT_SERVING. Checks run on every health call and every watch poll, so they must only
/// read a flag or a counter.
public struct HealthCondition: Sendable {
    /// Says what is wrong, for logs and tests.
    public var reason: String
    /// The fully-qualified services this condition affects; nil: every service.
    public var affects: Set<String>?
    /// Whether it also makes the whole server (`""`) NOT_SERVING. A condition that the daemon
    /// keeps serving through, and that a restart would not cure, reports on its own name only, so
    /// that probes do not restart the daemon over it.
    public var affectsWholeServer: Bool
    /// True while the condition holds.
    public var holds: @Sendable () -> Bool

    public init(_ reason: String, affects: Set<String>? = nil, affectsWholeServer: Bool = true, holds: @escaping @Sendable () -> Bool) {
        self.reason = reason
        self.affects = affects
        self.affectsWholeServer = affectsWholeServer
        self.holds = holds
    }
}

/// The serving status of the whole server (`""`) and of each service it serves, computed on demand
/// from the server's phase and a list of ``HealthCondition``s. A service is SERVING while the
/// server serves and none of the conditions that affect it holds; the whole server is SERVING while
/// the server serves and no condition holds at all.
///
/// Phase changes are pushed to ``changes(polling:)`` streams at once; conditions are polled.
public final class HealthStatusSource: Sendable {
    /// The fully-qualified names of the services served, without `""`.
    public let services: [String]
    private let known: Set<String>
    private let conditions: [HealthCondition]
    private let state = Mutex(State())

    private struct State {
        var phase = ServerPhase.starting
        var nextSubscriber = 0
        var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
    }

    public init(services: [String], conditions: [HealthCondition]) {
        self.services = services
        self.known = Set(services)
        self.conditions = conditions
    }

    public var phase: ServerPhase { state.withLock { $0.phase } }

    /// Moves the phase forward (starting → serving → draining) and wakes every watcher; a phase
    /// never goes back, so a late "serving" cannot undo draining.
    public func advance(to phase: ServerPhase) {
        let subscribers = state.withLock { state -> [AsyncStream<Void>.Continuation] in
            guard phase > state.phase else { return [] }
            state.phase = phase
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield() }
    }

    /// The status of `service` (`""`: the whole server), or nil for a name the server does not serve.
    public func status(of service: String) -> ServingStatus? {
        guard service.isEmpty || known.contains(service) else { return nil }
        var reasons: [String] = []
        switch phase {
        case .starting: reasons.append("starting")
        case .serving: break
        case .draining: reasons.append("draining: shutting down")
        }
        for condition in conditions where service.isEmpty ? condition.affectsWholeServer : condition.affects?.contains(service) ?? true {
            if condition.holds() { reasons.append(condition.reason) }
        }
        return reasons.isEmpty ? .serving : .notServing(reasons: reasons)
    }

    /// Runs `body` with a stream that yields at once, whenever the phase changes, and every
    /// `interval` (for the conditions, which are polled); unsubscribes when `body` returns.
    public func withChanges<R: Sendable>(polling interval: Duration, _ body: (AsyncStream<Void>) async throws -> R) async throws -> R {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        continuation.yield()
        let ticker = Task {
            while (try? await Task.sleep(for: interval)) != nil {
                continuation.yield()
            }
        }
        defer {
            ticker.cancel()
            continuation.finish()
            _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return try await body(stream)
    }

    /// Watchers currently subscribed (for tests: a finished watch leaves nothing behind).
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
