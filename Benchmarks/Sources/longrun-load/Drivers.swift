import BenchmarkSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunProto
import Synchronization
import SwiftProtobuf

typealias Transport = HTTP2ClientTransport.Posix

/// One HTTP/2 connection to the server on `socket`, with its clients, for the duration of `body`.
struct Connection: Sendable {
    let operations: Google_Longrunning_Operations.Client<Transport>
    let producers: Longrun_V1_Producers.Client<Transport>
    let admin: Longrun_V1_Admin.Client<Transport>

    init(_ client: GRPCClient<Transport>) {
        operations = .init(wrapping: client)
        producers = .init(wrapping: client)
        admin = .init(wrapping: client)
    }

    static func with<R: Sendable>(socket: String, _ body: (Connection) async throws -> R) async throws -> R {
        let transport = try Transport(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in try await body(Connection(client)) }
    }

    /// `count` separate connections (one HTTP/2 connection each) for the duration of `body`.
    static func with<R: Sendable>(socket: String, count: Int, _ body: ([Connection]) async throws -> R) async throws -> R {
        let clients = try (0..<count).map { _ in
            GRPCClient(transport: try Transport(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext))
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { try await client.runConnections() } }
            defer { for client in clients { client.beginGracefulShutdown() } }
            return try await body(clients.map(Connection.init))
        }
    }
}

/// A closed-loop measurement: `callers` tasks each call `call` back to back until `seconds` pass.
struct ClosedLoop {
    struct Outcome: Sendable {
        /// One latency per completed call, in microseconds.
        var latencies: [Int64]
        var seconds: Double
        var perSecond: Double { Double(latencies.count) / seconds }
    }

    static func run(callers: Int, seconds: Int, _ call: @escaping @Sendable (_ caller: Int, inout SystemRandomNumberGenerator) async throws -> Void) async throws -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(seconds)
        let all = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    var latencies: [Int64] = []
                    latencies.reserveCapacity(1 << 14)
                    while clock.now < end {
                        let before = clock.now
                        try await call(caller, &random)
                        latencies.append((clock.now - before).microseconds)
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return Outcome(latencies: all, seconds: (clock.now - start).seconds)
    }
}

/// Pipelines transitions on one StreamTransitions stream with at most `window` unanswered, and
/// times each from its send to its acknowledgement (sent by the server after the commit).
struct PipelinedStream {
    struct Outcome: Sendable {
        /// Send-to-acknowledgement latency of every answered transition, in microseconds.
        var latencies: [Int64]
        /// When each tag was sent and acknowledged, if asked for.
        var times: [UInt64: (sent: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)]
    }

    /// Sends what `next` yields (nil: done) and returns once every transition is answered. Fails on
    /// the first transition the server rejects. With `keepTimes`, returns when each tag was sent and
    /// answered.
    static func run(
        _ producers: Longrun_V1_Producers.Client<Transport>, window: Int, keepTimes: Bool = false,
        next: @escaping @Sendable (_ tag: UInt64) -> Longrun_V1_TransitionRequest?
    ) async throws -> Outcome {
        let inFlight = Window(size: window)
        return try await producers.streamTransitions(requestProducer: { writer in
            var tag: UInt64 = 0
            while var request = next(tag) {
                request.tag = tag
                await inFlight.acquire(tag: tag)
                try await writer.write(request)
                tag += 1
            }
        }) { response in
            var outcome = Outcome(latencies: [], times: [:])
            outcome.latencies.reserveCapacity(1 << 14)
            for try await message in response.messages {
                let now = ContinuousClock.now
                if case .error(let status)? = message.result {
                    throw RPCError(code: .unknown, message: "transition \(message.tag) failed: \(status.code) \(status.message)")
                }
                let sent = inFlight.release(tag: message.tag)
                outcome.latencies.append((now - sent).microseconds)
                if keepTimes { outcome.times[message.tag] = (sent, now) }
            }
            return outcome
        }
    }
}

/// At most `size` tags in flight; remembers when each was sent.
final class Window: Sendable {
    private struct State {
        var available: Int
        var waiter: CheckedContinuation<Void, Never>?
        var sentAt: [UInt64: ContinuousClock.Instant] = [:]
    }

    private let state: Mutex<State>

    init(size: Int) {
        state = Mutex(State(available: size))
    }

    /// Waits for a free slot, then records `tag` as sent now.
    func acquire(tag: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard state.available > 0 else {
                    state.waiter = continuation
                    return false
                }
                state.available -= 1
                return true
            }
            if ready { continuation.resume() }
        }
        let now = ContinuousClock.now
        state.withLock { $0.sentAt[tag] = now }
    }

    /// Frees `tag`'s slot and returns when it was sent.
    func release(tag: UInt64) -> ContinuousClock.Instant {
        let (sent, waiter) = state.withLock { state -> (ContinuousClock.Instant?, CheckedContinuation<Void, Never>?) in
            let sent = state.sentAt.removeValue(forKey: tag)
            if let waiter = state.waiter {
                state.waiter = nil
                return (sent, waiter)  // the slot passes to the waiting sender
            }
            state.available += 1
            return (sent, nil)
        }
        waiter?.resume()
        return sent ?? .now
    }
}

/// Requests and payloads the workloads send.
enum Requests {
    static let progress: Google_Protobuf_Any = .with {
        $0.typeURL = "type.googleapis.com/load.v1.Progress"
        $0.value = Data(repeating: 0x2A, count: 24)
    }
    static let result: Google_Protobuf_Any = .with {
        $0.typeURL = "type.googleapis.com/load.v1.Result"
        $0.value = Data(repeating: 0x2B, count: 24)
    }

    static func create(id: String) -> Longrun_V1_CreateOperationRequest { .with { $0.operationID = id; $0.metadata = progress } }
    static func update(name: String) -> Longrun_V1_UpdateOperationRequest { .with { $0.name = name; $0.metadata = progress } }
    static func complete(name: String) -> Longrun_V1_CompleteOperationRequest { .with { $0.name = name; $0.response = result } }

    /// The `step`th (0...4) of an operation's five transitions: create, three updates, complete.
    static func lifecycle(id: String, step: Int) -> Longrun_V1_TransitionRequest {
        .with {
            switch step {
            case 0: $0.create = create(id: id)
            case 4: $0.complete = complete(name: "operations/" + id)
            default: $0.update = update(name: "operations/" + id)
            }
        }
    }
}

/// Creates operations `\(prefix)0` ..< `\(prefix)\(count)` (running, no metadata) over one stream.
func populate(_ producers: Longrun_V1_Producers.Client<Transport>, prefix: String, count: Int) async throws {
    let outcome = try await PipelinedStream.run(producers, window: 4096) { tag in
        tag < count ? .with { $0.create = .with { $0.operationID = "\(prefix)\(tag)" } } : nil
    }
    guard outcome.latencies.count == count else { throw RPCError(code: .unknown, message: "populate answered \(outcome.latencies.count) of \(count)") }
}
