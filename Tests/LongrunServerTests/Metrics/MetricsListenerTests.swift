@testable import LongrunServer
import NIOCore
import Prometheus
import LongrunTestSupport
import ServiceLifecycle
import Testing

@Suite("The metrics HTTP endpoint")
struct MetricsListenerTests {
    /// Runs a listener on `address` in a ServiceGroup, as the daemon does, and stops it gracefully.
    static func serving(_ address: MetricsAddress, _ metrics: LongrunMetrics, limits: MetricsListener.ConnectionLimits = .init(),
                        _ body: (MetricsListener) async throws -> Void) async throws {
        let listener = try await MetricsListener.bind(address, metrics: metrics, logger: Fixtures.quietLogger, limits: limits)
        let group = ServiceGroup(configuration: .init(services: [listener], logger: Fixtures.quietLogger))
        let running = Task { try await group.run() }
        do { try await body(listener) } catch {
            await group.triggerGracefulShutdown()
            _ = await running.result
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func getMetricsOverTCPAndTheOtherAnswers() async throws {
        let metrics = LongrunMetrics()
        metrics.registry.makeCounter(descriptor: .init(metricName: "longrun_test", unitName: "total", helpText: "A test counter.")).increment(by: Int64(7))
        try await Self.serving(.tcp(host: "127.0.0.1", port: 0), metrics) { listener in
            guard case .tcp(_, let port) = listener.boundAddress else { Issue.record("not TCP"); return }
            #expect(port > 0)
            let ok = try HTTPGet.request("GET", "/metrics", port: port)
            #expect(ok.status == 200)
            #expect(ok.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(Exposition(ok.body).value("longrun_test_total") == 7)
            #expect(ok.body.contains("# HELP longrun_test_total A test counter."))
            #expect(try HTTPGet.request("GET", "/metrics?x=1", port: port).status == 200)
            #expect(try HTTPGet.request("GET", "/", port: port).status == 404)
            let post = try HTTPGet.request("POST", "/metrics", port: port)
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")
        }
    }

    @Test func aUnixSocketIsServedAndRemovedAfterwards() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("metrics.sock")
        let metrics = LongrunMetrics()
        metrics.registry.makeGauge(descriptor: .init(metricName: "longrun_test_gauge", unitName: "", helpText: "A test gauge.")).set(Int64(3))
        try await Self.serving(.unix(path: path), metrics) { _ in
            let ok = try HTTPGet.request("GET", "/metrics", unixPath: path)
            #expect(ok.status == 200)
            #expect(Exposition(ok.body).value("longrun_test_gauge") == 3)
            // A second endpoint on a live socket is refused, not stolen.
            await #expect { _ = try await MetricsListener.bind(.unix(path: path), metrics: metrics, logger: Fixtures.quietLogger) } throws: {
                "\($0)".contains("something is serving on \(path)")
            }
        }
        #expect((try? HTTPGet.request("GET", "/metrics", unixPath: path)) == nil)
    }

    /// The endpoint may listen where anyone can connect, and its connections hold file descriptors
    /// the daemon's gRPC clients need too: it serves so many at once, answers more 503 (saying why)
    /// and closes them; once one of those it serves closes, it serves again.
    @Test func connectionsPastTheLimitAreAnswered503() async throws {
        let limits = MetricsListener.ConnectionLimits(connections: 2, idleTimeout: .seconds(600))
        try await Self.serving(.tcp(host: "127.0.0.1", port: 0), LongrunMetrics(), limits: limits) { listener in
            guard case .tcp(_, let port) = listener.boundAddress else { Issue.record("not TCP"); return }
            var silent = try (0..<2).map { _ in try SilentConnection(port: port) }
            // Accepted on either event loop: counted once both have been.
            for _ in 0..<1_000 where listener.openConnections < 2 { try await Task.sleep(for: .milliseconds(10)) }
            let refused = try HTTPGet.request("GET", "/metrics", port: port)
            #expect(refused.status == 503)
            #expect(refused.body.contains("serves 2 connections at once"), "\(refused.body)")
            silent.removeLast()
            // The endpoint sees it close a moment after it does.
            var status = 0
            for _ in 0..<200 where status != 200 {
                status = try HTTPGet.request("GET", "/metrics", port: port).status
                if status != 200 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == 200)
        }
    }

    /// A connection that sends nothing for the idle timeout is closed: a slot is not held for ever.
    @Test func silentConnectionsAreClosed() async throws {
        let limits = MetricsListener.ConnectionLimits(connections: 64, idleTimeout: .milliseconds(300))
        try await Self.serving(.tcp(host: "127.0.0.1", port: 0), LongrunMetrics(), limits: limits) { listener in
            guard case .tcp(_, let port) = listener.boundAddress else { Issue.record("not TCP"); return }
            let silent = try SilentConnection(port: port)
            #expect(silent.closedByServer(within: 30))
        }
    }

    @Test func anAddressInUseIsSaidPlainly() async throws {
        let metrics = LongrunMetrics()
        try await Self.serving(.tcp(host: "127.0.0.1", port: 0), metrics) { listener in
            await #expect { _ = try await MetricsListener.bind(listener.boundAddress, metrics: metrics, logger: Fixtures.quietLogger) } throws: {
                "\($0)".contains("cannot serve metrics on \(listener.boundAddress): the address is in use")
            }
        }
    }

    @Test func addressesParse() throws {
        #expect(try MetricsAddress(parsing: "127.0.0.1:9464") == .tcp(host: "127.0.0.1", port: 9464))
        #expect(try MetricsAddress(parsing: "[::1]:9464") == .tcp(host: "::1", port: 9464))
        #expect(try MetricsAddress(parsing: "localhost:0") == .tcp(host: "localhost", port: 0))
        #expect(try MetricsAddress(parsing: "/run/longrun/metrics.sock") == .unix(path: "/run/longrun/metrics.sock"))
        #expect(try MetricsAddress(parsing: "./m.sock") == .unix(path: "./m.sock"))
        #expect(MetricsAddress.tcp(host: "::1", port: 1).description == "[::1]:1")
        for bad in ["9464", ":9464", "127.0.0.1:", "127.0.0.1:70000", "::1:9464", "host:port"] {
            #expect(throws: MetricsAddressError.self, "\(bad)") { try MetricsAddress(parsing: bad) }
        }
    }
}
